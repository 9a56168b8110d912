#pragma once
// The folders a `tessera train` run writes into (checkpoint.dir, log_dir) hold one run at a time (issue 14, item 3).
// A fresh run into folders holding another run's files would overwrite its best.h5, append to its metrics.csv and
// mix checkpoints with it (a later --resume would continue the old run); it is refused unless asked to replace
// them (--overwrite), which removes exactly those files and nothing else. Checkpoints carry a run id (meta
// "run_id"), so pruning only ever deletes the current run's files; a resumed run keeps the id it resumed.
// Two runs at once in the folders are kept out by run_folder_lock.h (.tessera.lock), which the main rank takes
// before anything here runs.
#include <string>
#include <vector>

namespace tessera::cli {

struct RunFolders {
  std::string checkpoint_dir;  // "" when the config has none
  std::string log_dir;
};

// Another run's files: ckpt-<step>.h5 (and their .corrupt and .superseded copies) and best.h5 in checkpoint_dir,
// the epoch logs (kEpochLogFiles) in log_dir. Throws, naming each folder and the files, unless `overwrite`; then removes them and prints their paths.
// Files are matched by name, so the folder's .tessera.lock is neither counted nor removed (deleting a lock file
// would let another run lock a new one). For the main rank of a fresh run, holding the folders' locks, before it
// writes anything.
void claim_for_fresh_run(const RunFolders& folders, bool overwrite);

// The files in log_dir a run appends one row group per epoch to (CsvLogger, ConfusionMatrixLogger).
inline constexpr const char* kEpochLogFiles[] = {"metrics.csv", "confusion_matrix.csv"};

// For a run resumed after `epochs` complete epochs: drops the rows of later epochs (first column, 1-based) from
// log_dir's epoch logs, keeping the header, so epochs trained again (a crash after their row was written but before
// their checkpoint, a fallback past a corrupt checkpoint, --resume-from an older one, a max_steps stop inside an
// epoch) are not logged twice. Rewritten atomically (io::write_file_atomically); a missing file stays missing.
void drop_epoch_log_rows_after(const std::string& log_dir, int64_t epochs);

// Removes the temporary checkpoint files a killed run left in `dir`, printing one line per file. Only with the
// folder's lock held: a run still writing there would lose the file it is filling.
void remove_stale_checkpoint_temporaries(const std::string& dir);

// A new run id: UTC time and 32 random bits, "20261205T001500Z-3f9a2c1d".
std::string new_run_id();

}  // namespace tessera::cli
