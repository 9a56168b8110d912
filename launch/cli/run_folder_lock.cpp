#include "launch/cli/run_folder_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <utility>

#include "core/check.h"
#include "core/log.h"

namespace tessera::cli {

namespace {

namespace fs = std::filesystem;

// "host h, pid 123, since 2026-12-05 01:15:00 +0100": the offset, since the holder may be on another node.
std::string holder_text() {
  char host[HOST_NAME_MAX + 1] = "unknown";
  ::gethostname(host, sizeof(host));
  host[HOST_NAME_MAX] = '\0';
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  char since[64];
  std::strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S %z", &local);
  return std::string("host ") + host + ", pid " + std::to_string(::getpid()) + ", since " + since;
}

// The holder's line, for the error; "" when it wrote none yet (it has just taken the lock).
std::string read_holder(int fd) {
  char text[512];
  const ssize_t length = ::pread(fd, text, sizeof(text) - 1, 0);
  if (length <= 0) return "";
  std::string line(text, static_cast<size_t>(length));
  return line.substr(0, line.find('\n'));
}

// flock(fd, operation | LOCK_NB), retried while a signal interrupts it: 0, or the error.
int try_flock(int fd, int operation) {
  while (::flock(fd, operation | LOCK_NB) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

bool flock_unsupported(int error) {
  return error == ENOLCK || error == EOPNOTSUPP || error == ENOTSUP || error == ENOSYS;
}

}  // namespace

RunFolderLock::RunFolderLock(std::string dir, const char* key) : dir_(std::move(dir)) {
  const std::string path = (fs::path(dir_) / kRunFolderLockFile).string();
  // O_CLOEXEC: a child that execs (mpirun, a shell) must not keep the lock alive after this run ends.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);  // the umask decides, as for the other files
  // flock needs no write access: a lock file another user's run made (a shared folder) still locks, holder unnamed
  const bool read_only = fd_ < 0 && errno == EACCES;
  if (read_only) fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TESSERA_CHECK(fd_ >= 0, "config: ", key, ": cannot open the run-folder lock file '", path,
                "': ", std::strerror(errno));
  int error = try_flock(fd_, LOCK_EX);
  if (error == EBADF && read_only) {
    // NFS emulates flock with fcntl locks: an exclusive one needs a file open for writing, a shared one only for
    // reading. The shared lock still finds a run that holds the folder (EWOULDBLOCK below), and while this run
    // holds it, the owner's runs (exclusive) are refused; only another read-only run like this one is not.
    error = try_flock(fd_, LOCK_SH);
    if (error == 0) {
      log::warn("{} '{}': the run-folder lock {} belongs to another user and its file system (NFS) locks only files "
                "opened for writing exclusively: holding it shared, so a run of its owner cannot start here, but a "
                "second run of a user who cannot write it can; its owner can remove it", key, dir_, path);
      return;  // fd_ stays open: it holds the shared lock (the destructor's ftruncate fails harmlessly)
    }
  }
  if (error == 0) {
    // The holder's line, for a second run's error only (the flock is the lock). Best effort: a run that cannot
    // write it still holds the folder; the error then names no holder.
    const std::string text = holder_text() + "\n";
    [[maybe_unused]] const bool written = ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, text.data(), text.size(), 0) > 0;
    return;
  }
  const std::string holder = error == EWOULDBLOCK ? read_holder(fd_) : "";
  ::close(fd_);  // a throwing constructor runs no destructor
  fd_ = -1;
  if (flock_unsupported(error)) {
    log::warn("{} '{}': its file system does not support flock() ({}): going on without the run-folder lock {}, so "
              "nothing stops a second tessera train in this folder (Lustre: mount with -o flock)",
              key, dir_, std::strerror(error), path);
    return;
  }
  // NFS emulates flock with fcntl locks, and an exclusive one needs a file open for writing.
  if (error == EBADF && read_only) {
    log::warn("{} '{}': the run-folder lock {} belongs to another user and its file system (NFS) locks only files "
              "opened for writing: going on without the lock, so nothing stops a second tessera train in this "
              "folder; its owner can remove it", key, dir_, path);
    return;
  }
  TESSERA_CHECK(error != EWOULDBLOCK, "train: run folder '", dir_, "' (", key, ") is in use by another tessera train (",
                holder.empty() ? "its host and pid not recorded" : holder, "), which holds the lock ", path,
                "; wait for it to end or stop it (a run that was killed holds no lock)");
  TESSERA_THROW("train: cannot lock the run folder '", dir_, "' (", key, "): flock of ", path, ": ",
                std::strerror(error));
}

RunFolderLock::RunFolderLock(RunFolderLock&& other) noexcept
    : dir_(std::move(other.dir_)), fd_(std::exchange(other.fd_, -1)) {}

RunFolderLock::~RunFolderLock() {
  if (fd_ < 0) return;
  // Emptied while still held: a run that ended names no holder, and one refused at start (claim_for_fresh_run)
  // leaves the folder's files as it found them.
  [[maybe_unused]] const int emptied = ::ftruncate(fd_, 0);
  ::close(fd_);
}

void lock_run_folders(const RunFolders& folders, std::vector<RunFolderLock>& held) {
  const std::pair<const char*, const std::string*> candidates[] = {{"checkpoint.dir", &folders.checkpoint_dir},
                                                                   {"log_dir", &folders.log_dir}};
  for (const auto& [key, dir] : candidates) {
    std::error_code error;
    if (dir->empty() || !fs::is_directory(*dir, error)) continue;
    // equivalent(): the same folder however it is spelled (runs/x, ./runs/x/, a symlink to it)
    const bool locked = std::any_of(held.begin(), held.end(), [&](const RunFolderLock& lock) {
      std::error_code same_error;
      return fs::equivalent(lock.dir(), *dir, same_error);
    });
    if (!locked) held.emplace_back(*dir, key);
  }
}

}  // namespace tessera::cli
