#pragma once
// One `tessera train` at a time in a run folder (checkpoint.dir, log_dir). Two runs in one folder clobber each
// other: a second --resume continues from a checkpoint the first is about to supersede, both write and prune
// ckpt-*.h5 and append to metrics.csv, and the second's start (remove_stale_checkpoint_temporaries) deletes the
// temporary checkpoint file the first is still filling. So the main rank takes an exclusive, non-blocking flock() on
// <folder>/.tessera.lock before it picks a checkpoint to resume, claims the folder or removes anything, and holds it
// until the run ends. The kernel drops a flock with its process, so a killed run (SIGKILL, OOM) leaves no stale
// lock; the file's text (host, pid, start time) only names the holder in the error. The file is never deleted:
// unlinking a lock file lets a third run lock a new file of that name while the second still holds the old one.
#include <string>
#include <vector>

#include "launch/cli/run_folder.h"

namespace tessera::cli {

inline constexpr const char* kRunFolderLockFile = ".tessera.lock";

class RunFolderLock {
 public:
  // Locks `dir`, an existing folder (`key` names it in messages: "checkpoint.dir"). Throws naming the folder, the
  // lock file and the holder when another process holds it. Where the file system has no flock (ENOLCK, EOPNOTSUPP,
  // ENOSYS: e.g. Lustre mounted without -o flock) it prints one warning and holds nothing.
  RunFolderLock(std::string dir, const char* key);
  ~RunFolderLock();  // empties the holder text, then closes the file, which releases the lock
  RunFolderLock(RunFolderLock&& other) noexcept;
  RunFolderLock(const RunFolderLock&) = delete;
  RunFolderLock& operator=(const RunFolderLock&) = delete;
  RunFolderLock& operator=(RunFolderLock&&) = delete;

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int fd_ = -1;  // -1: nothing held (moved from, or no flock on this file system)
};

// Locks each folder of `folders` that exists and is not in `held` yet (log_dir once when it is checkpoint.dir: a
// second flock of the same file from this process would fail against the first). For the main rank: before the
// resume point is picked (the folders that exist), and again once the output folders are created.
void lock_run_folders(const RunFolders& folders, std::vector<RunFolderLock>& held);

}  // namespace tessera::cli
