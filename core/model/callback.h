#pragma once
// Keras-style callbacks: Model::fit calls them at the start and end of training, of each epoch and of each batch.
// `logs` carries the numbers named in Model's header (loss, accuracy, val_loss, ..., lr). Callbacks run on every
// rank with the same logs (metrics are summed over ranks first), so decisions such as stopping agree everywhere;
// callbacks that print or write files do so only where `state.is_main` is true.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/nn/state_dict.h"

namespace tessera::optim {
class Optimizer;
}

namespace tessera::model {

class Model;
class Callback;
using Logs = std::map<std::string, double>;
// The logs fit adds to each epoch's beside the loss and the metrics (model.h, "Logs keys"); none has a val_ twin.
inline constexpr const char* kEpochRunLogs[] = {"lr", "samples_per_sec", "epoch_seconds", "data_wait_seconds"};

// What callbacks may look at and change during fit.
struct TrainState {
  Model* model = nullptr;
  optim::Optimizer* optimizer = nullptr;
  int64_t epoch = 0;            // 0-based epoch being trained
  int64_t epochs = 0;           // fit's epochs
  int64_t step = 0;             // optimizer steps taken so far (global, across epochs and resumes)
  int64_t batches_per_epoch = 0;
  int64_t batch_in_epoch = 0;   // batches of this epoch done
  bool is_main = true;          // rank 0
  bool stop_training = false;   // set by a callback: fit ends after this batch (EarlyStopping, TerminateOnNaN)
  const std::vector<std::shared_ptr<Callback>>* callbacks = nullptr;  // fit's, for checkpoints of their state()
  // Steps since the previous on_batch_end: 1, or up to CompileOptions::steps_per_execution.
  int64_t steps_since_last_batch_end = 1;

  // Whether the steps since the previous on_batch_end include a multiple of `every` (false for every <= 0): what
  // "every `every` steps" means for a callback that is not called after every step.
  bool reached_multiple_of(int64_t every) const {
    return every > 0 && step / every > (step - steps_since_last_batch_end) / every;
  }
};

// Keras's "auto" mode for a monitored log: higher is better for accuracies (names containing "acc") and, as Keras 3's
// metric directions, precision and recall (val_precision/3); lower for everything else (losses, lr). Shared by
// EarlyStopping and ModelCheckpoint's best.h5.
bool higher_is_better(const std::string& monitor);

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(TrainState& state) {}
  virtual void on_epoch_begin(TrainState& state) {}
  virtual void on_batch_end(TrainState& state, const Logs& logs) {}  // logs: running means of this epoch
  virtual void on_epoch_end(TrainState& state, const Logs& logs) {}  // logs: epoch totals and validation
  virtual void on_train_end(TrainState& state, const Logs& logs) {}

  // Progress a resumed run must go on from (best score so far, epochs without improvement): checkpoints store
  // state() under state_key() and a resume gives it back through load_state() before fit. Empty key: nothing.
  virtual std::string state_key() const { return ""; }
  virtual nlohmann::json state() const { return nullptr; }
  virtual void load_state(const nlohmann::json& state) {}
  // Tensors of that progress (EarlyStopping's best weights), stored beside state() as /callbacks/<state_key>.<name>
  // and given back by load_tensor_state() (only with the names found; not called when there are none).
  virtual StateDict tensor_state() const { return {}; }
  virtual void load_tensor_state(const StateDict& tensors) {}
};

}  // namespace tessera::model
