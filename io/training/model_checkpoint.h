#pragma once
// A Model's whole training state as a Checkpoint and back, and the Keras-style ModelCheckpoint callback.
//
// capture: parameters and buffers, optimizer and scheduler state, step and next epoch, world size, and in meta
// the training source's position ("train"), the default generator's state ("rng", for dropout), the loss scale
// and any caller data (the run's config). restore puts all of it back, so fit continues exactly where the
// checkpoint was taken: bitwise at the same world size. At another world size only checkpoints taken at an
// epoch boundary can be resumed (a position inside an epoch means other samples at another world size).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/callback.h"
#include "core/model/model.h"
#include "io/training/checkpoint.h"

namespace tessera::io {

// capture copies every tensor to the host, so training may go on while the Checkpoint is kept.
// Callbacks with a state_key() (ModelCheckpoint's best score, EarlyStopping's counters) are stored in meta
// "callbacks" as they stand at capture, and given back by restore; a checkpoint without them restores none.
using Callbacks = std::vector<std::shared_ptr<model::Callback>>;
Checkpoint capture_checkpoint(const model::Model& model, const model::BatchSource* train,
                              const nlohmann::json& extra_meta = nlohmann::json::object(),
                              const Callbacks& callbacks = {});
void restore_checkpoint(model::Model& model, model::BatchSource* train, const Checkpoint& checkpoint,
                        const Callbacks& callbacks = {});

struct ModelCheckpointOptions {
  std::string dir;                       // ckpt-<step>.h5 files, newest `keep` kept
  int64_t keep = 3;
  int64_t every_steps = 0;               // > 0: also every this many optimizer steps inside an epoch
  std::string monitor = "val_accuracy";  // best.h5 when this improves; empty: no best.h5
  nlohmann::json extra_meta = nlohmann::json::object();  // stored with every checkpoint (e.g. the config)
  CheckpointWriteOptions write{};
  // Files that failed verification on --resume: renamed to "<file>.corrupt" before the first save, so they are
  // kept for inspection but never listed, loaded, pruned or overwritten. Not at resume time: other ranks may
  // still be reading them then.
  std::vector<std::string> set_aside{};
  // A timeline's marks (FitOptions::mark): model::phase::checkpoint before each write, "callbacks" after it.
  std::function<void(const char*)> mark{};
};

// Saves at the end of every epoch on rank 0 (every rank keeps training; their states are identical), and with
// every_steps after each step whose number it divides (no best.h5 then: only epochs are validated), with the
// state of every fit callback listed before it (so they have seen the epoch) and its own best score, so a
// resumed run replaces best.h5 only with a better epoch. best.h5 is written before the numbered checkpoint, so no
// checkpoint ever records a best score that best.h5 lacks (a failure between the two files).
class ModelCheckpoint : public model::Callback {
 public:
  ModelCheckpoint(ModelCheckpointOptions options, const model::BatchSource* train);
  void on_batch_end(model::TrainState& state, const model::Logs& logs) override;
  void on_epoch_end(model::TrainState& state, const model::Logs& logs) override;
  // Writes ckpt-<step>.h5 of the state now, inside an epoch too (a preempted run: model::PreemptionHandler), on rank 0;
  // returns its path there and "" elsewhere. best.h5 is left alone: it follows epoch ends only.
  std::string save(model::TrainState& state);
  const std::string& last_path() const { return last_path_; }
  std::optional<double> best() const { return best_; }

  std::string state_key() const override { return "model_checkpoint"; }
  nlohmann::json state() const override;                  // {monitor, best (null while none)}
  void load_state(const nlohmann::json& state) override;  // ignored when it monitored something else

 private:
  void marked_write(model::TrainState& state, bool also_best);  // write() between timeline marks
  void write(model::TrainState& state, bool also_best);  // the numbered checkpoint, after best.h5 when asked

  ModelCheckpointOptions options_;
  const model::BatchSource* train_;
  std::optional<double> best_;
  std::string last_path_;
};

}  // namespace tessera::io
