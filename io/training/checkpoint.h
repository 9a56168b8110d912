#pragma once
// Checkpoints: one HDF5 file per checkpoint, readable by h5py.
//
// File layout (every tensor a dataset with its own shape and dtype; 0-d tensors are scalar datasets):
//   /model/<name>      parameters and persistent buffers by state_dict name ("0.weight", "1.running_mean")
//   /optimizer/<key>   the optimizer's state_dict ("optimizer.AdamW", "options.lr", "state.3.exp_avg", ...)
//   /scheduler/<key>   the LR scheduler's state_dict, when there is one ("last_epoch", "base_lr", ...)
//   /callbacks/<key>   fit callbacks' tensors, when any ("early_stopping.0.weight": its best weights)
//   root attributes    format = "tessera.checkpoint.v1", step, epoch, world_size (int64) and meta (a JSON string
//                      with everything else: sampler/loader state and seed, RNG state, loss scale, config)
//
// Invariants: a checkpoint is built in memory, written to "<path>.tmp-<pid>", fsynced and renamed over <path> (then
// the directory is fsynced; atomic_file.h), so <path> is always either the previous complete file or the new
// complete file; a failed write (disk full) removes its temporary file and throws naming <path>; a crash mid-write
// leaves only a temporary file, which no reader looks at and remove_stale_temporaries deletes. No file is ever
// written or loaded with NaN or inf in a floating tensor (a diverged run's state is useless and would replace good
// checkpoints).
// Integrity: every tensor dataset carries an int64 attribute "crc32c", the CRC32C of its bytes as written; loading
// verifies each one and names the file and tensor on a mismatch (a flipped bit). The root attribute
// "attributes_crc32c" covers step, epoch, world_size and meta the same way. Files from before the CRCs (no
// attribute) still load, unchecked.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/nn/state_dict.h"

namespace tessera::io {

struct Checkpoint {
  StateDict model;
  StateDict optimizer;
  StateDict scheduler;
  StateDict callbacks;  // "<callback state_key>.<name>": Callback::tensor_state()
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t world_size = 1;
  nlohmann::json meta = nlohmann::json::object();
};

struct CheckpointWriteOptions {
  // Called once the temporary file is complete and synced, before the rename (tests kill the process here).
  std::function<void(const std::string& temporary_path)> before_rename{};
};

// The first floating tensor holding NaN or inf, as "<section>/<name>" ("model/0.weight"), or nothing.
std::optional<std::string> first_non_finite(const Checkpoint& checkpoint);

// Throws, naming the tensor and step, when first_non_finite finds one; nothing is written then.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint, const CheckpointWriteOptions& options = {});
// Errors name the file and the dataset or attribute that is missing or malformed, the tensor failing its CRC32C,
// or the non-finite tensor.
Checkpoint load_checkpoint(const std::string& path);

// Checkpoint directories hold "ckpt-<step, 9 digits>.h5" files (and "best.h5"). Writes the checkpoint for its
// step, then deletes the oldest ckpt files beyond `keep`, counting only files of the same run (meta "run_id", see
// run_id) up to its step: another run's files and later files are never pruned. Returns the path written.
// also_best: writes "<dir>/best.h5" first from the same in-memory image (built and checked once for both).
// "ckpt-000000469.h5": the file name of the numbered checkpoint of `step`.
std::string numbered_checkpoint_name(int64_t step);
std::string save_numbered_checkpoint(const std::string& dir, const Checkpoint& checkpoint, int64_t keep,
                                     const CheckpointWriteOptions& options = {}, bool also_best = false);
// The ckpt files of `dir`, oldest first (temporary files are never listed).
std::vector<std::string> list_checkpoints(const std::string& dir);
std::optional<std::string> latest_checkpoint(const std::string& dir);

// The run a checkpoint belongs to: meta "run_id", "" when it has none (files from before run ids, tests).
std::string run_id(const nlohmann::json& meta);
// The run id stored in a checkpoint file (read from its attributes only); nothing when the file cannot be read.
std::optional<std::string> checkpoint_run_id(const std::string& path);

// Temporary files that killed writers left in `dir` ("ckpt-<step>.h5.tmp-<pid>", "best.h5.tmp-<pid>"): removes
// them and returns their paths. For the start of a run, before it writes anything into `dir`.
std::vector<std::string> remove_stale_temporaries(const std::string& dir);

// --resume: the newest ckpt file of `dir` that loads and verifies, trying them newest first; each newer one that
// fails is passed to `on_rejected` with the reason and listed in `rejected`. Nothing when `dir` has no ckpt
// file; throws naming `dir` when none verifies.
struct ResumePoint {
  std::string path;
  Checkpoint checkpoint;
  std::vector<std::string> rejected;
};
using RejectedCheckpoint = std::function<void(const std::string& path, const std::string& reason)>;
std::optional<ResumePoint> newest_good_checkpoint(const std::string& dir, const RejectedCheckpoint& on_rejected = {});

}  // namespace tessera::io
