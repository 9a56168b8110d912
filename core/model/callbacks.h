#pragma once
// The stock callbacks of Model::fit (Keras's names and behaviour). Those that print or write do so on rank 0
// only; the others run on every rank with identical logs, so they decide alike.
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/model/callback.h"
#include "core/nn/state_dict.h"

namespace tessera::model {

// Per epoch: a bar with the running loss and metrics, samples/s and ETA, redrawn in place on a terminal; on
// anything else (a log file, CI), one line per epoch.
enum class ProgressStyle {
  automatic,  // bar when `out` is a terminal and no MPI/SLURM launcher sits between it and the user (mpirun gives
              // ranks a pseudo-terminal even when its own output goes to a file), else lines
  bar,
  lines,
};

// True when `out` is a terminal and no MPI/SLURM launcher sits between it and the user: a bar can then be redrawn
// in place with '\r' (also used by the data converters' progress, io/convert/progress.h).
bool redraws_in_place(std::FILE* out);

class ProgressBar : public Callback {
 public:
  explicit ProgressBar(std::FILE* out = stdout, ProgressStyle style = ProgressStyle::automatic);
  void on_epoch_begin(TrainState& state) override;
  void on_batch_end(TrainState& state, const Logs& logs) override;
  void on_epoch_end(TrainState& state, const Logs& logs) override;

 private:
  std::FILE* out_;
  bool terminal_;
  double epoch_start_ = 0;
  int64_t first_batch_ = 0;
  double last_draw_ = -1;
};

// Appends one row per epoch to a CSV file (created with a header when absent or empty, so a resumed run goes on
// in the same file): epoch, step, then `columns` (missing values empty).
class CsvLogger : public Callback {
 public:
  static const std::vector<std::string>& default_columns();  // loss, accuracy, val_loss, ..., epoch_seconds
  explicit CsvLogger(std::string path, std::vector<std::string> columns = default_columns());
  void on_epoch_end(TrainState& state, const Logs& logs) override;

 private:
  std::string path_;
  std::vector<std::string> columns_;
};

// Appends the validation confusion matrix of each epoch (logs val_confusion_matrix/<true>/<predicted>, from the
// confusion_matrix metric) to a CSV file: epoch, true_class, predicted_0..predicted_{C-1}, precision, recall.
class ConfusionMatrixLogger : public Callback {
 public:
  explicit ConfusionMatrixLogger(std::string path) : path_(std::move(path)) {}
  void on_epoch_end(TrainState& state, const Logs& logs) override;

 private:
  std::string path_;
};

// The class count of logs holding `prefix`confusion_matrix/<i>/<j> entries (0 when there are none).
int64_t confusion_classes(const Logs& logs, const std::string& prefix);

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0;          // its absolute value is used (Keras), in the direction of mode
  int64_t patience = 0;          // epochs without improvement after which training stops (Keras: 0 and 1 alike)
  std::string mode = "auto";     // "min", "max", or "auto" (higher_is_better: accuracies, precision, recall)
  bool restore_best_weights = false;
  int64_t start_from_epoch = 0;  // Keras's warm-up: epochs (0-based) before this one are not watched at all
};

// Stops training once `monitor` has not improved by min_delta for `patience` epochs. Its best and wait go into
// checkpoints (state()), so a resumed run counts on; with restore_best_weights the best epoch's weights too
// (tensor_state()), so a run resumed after that epoch still goes back to them when it stops.
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  void on_train_begin(TrainState& state) override;
  void on_epoch_end(TrainState& state, const Logs& logs) override;
  void on_train_end(TrainState& state, const Logs& logs) override;
  int64_t stopped_epoch() const { return stopped_epoch_; }  // -1 while not stopped
  double best() const { return best_; }
  int64_t wait() const { return wait_; }

  std::string state_key() const override { return "early_stopping"; }
  nlohmann::json state() const override;             // {monitor, best (null while none), wait}
  void load_state(const nlohmann::json& state) override;  // ignored when it monitored something else
  StateDict tensor_state() const override;                // the best weights (restore_best_weights only)
  void load_tensor_state(const StateDict& tensors) override;

 private:
  double initial_best() const;
  EarlyStoppingOptions options_;
  bool maximize_ = false;
  double best_ = 0;
  int64_t wait_ = 0;
  int64_t stopped_epoch_ = -1;
  bool restored_ = false;  // load_state ran: the next on_train_begin keeps best_ and wait_
  StateDict best_weights_;
};

struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";
  double factor = 0.1;       // the new learning rate is lr * factor (but at least min_lr)
  int64_t patience = 10;     // epochs without improvement tolerated; the next one reduces the rate
  double min_delta = 1e-4;   // an improvement must beat the best by more than this (absolute)
  int64_t cooldown = 0;      // epochs after a reduction in which epochs without improvement are not counted
  double min_lr = 0;
  std::string mode = "auto"; // "min", "max", or "auto" (higher_is_better: accuracies, precision, recall)
};

// Multiplies the optimizer's learning rate by `factor` once `monitor` has not improved for more than `patience`
// epochs: PyTorch's ReduceLROnPlateau (stepped once per epoch, threshold_mode "abs" with min_delta as threshold);
// Keras's callback of the same name reduces one epoch sooner (at `patience` epochs). The rate it set, its best, wait
// and cooldown go into checkpoints, so a resumed run goes on at the reduced rate. A model with an LR schedule is
// refused (the schedule sets the rate every step and would undo the reduction).
class ReduceLROnPlateau : public Callback {
 public:
  explicit ReduceLROnPlateau(ReduceLROnPlateauOptions options = {});
  void on_train_begin(TrainState& state) override;
  void on_epoch_end(TrainState& state, const Logs& logs) override;
  int64_t reductions() const { return reductions_; }

  std::string state_key() const override { return "reduce_lr_on_plateau"; }
  nlohmann::json state() const override;  // {monitor, best (null while none), wait, cooldown, lr (null before any)}
  void load_state(const nlohmann::json& state) override;  // ignored when it monitored something else

 private:
  ReduceLROnPlateauOptions options_;
  bool maximize_ = false;
  double best_ = 0;
  int64_t wait_ = 0;
  int64_t cooldown_left_ = 0;
  int64_t reductions_ = 0;
  std::optional<double> lr_;  // the rate this callback last set, restored on resume
  bool restored_ = false;
};

// Stops training at the first batch whose loss is NaN or infinite. With `fail`, ends fit with an error naming
// the step and the loss instead, so nothing after it (validation, epoch-end checkpoints) runs on the diverged
// weights and a job exits non-zero.
class TerminateOnNaN : public Callback {
 public:
  explicit TerminateOnNaN(bool fail = false) : fail_(fail) {}
  void on_batch_end(TrainState& state, const Logs& logs) override;
  bool terminated() const { return terminated_; }

 private:
  bool fail_;
  bool terminated_ = false;
};

// Sets the optimizer's learning rate at the start of each epoch to schedule(epoch, current lr).
class LearningRateScheduler : public Callback {
 public:
  explicit LearningRateScheduler(std::function<double(int64_t epoch, double lr)> schedule);
  void on_train_begin(TrainState& state) override;  // refuses a model with an LR schedule (it would undo each rate)
  void on_epoch_begin(TrainState& state) override;

 private:
  std::function<double(int64_t, double)> schedule_;
};

// Keras's LambdaCallback: a callback made of functions, for a print or a side effect without writing a class. Any
// left empty is not called. They run on every rank (state.is_main says which one prints).
struct LambdaCallbackFunctions {
  std::function<void(TrainState&)> on_train_begin;
  std::function<void(TrainState&)> on_epoch_begin;
  std::function<void(TrainState&, const Logs&)> on_batch_end;
  std::function<void(TrainState&, const Logs&)> on_epoch_end;
  std::function<void(TrainState&, const Logs&)> on_train_end;
};

class LambdaCallback : public Callback {
 public:
  explicit LambdaCallback(LambdaCallbackFunctions functions) : functions_(std::move(functions)) {}
  void on_train_begin(TrainState& state) override { call(functions_.on_train_begin, state); }
  void on_epoch_begin(TrainState& state) override { call(functions_.on_epoch_begin, state); }
  void on_batch_end(TrainState& state, const Logs& logs) override { call(functions_.on_batch_end, state, logs); }
  void on_epoch_end(TrainState& state, const Logs& logs) override { call(functions_.on_epoch_end, state, logs); }
  void on_train_end(TrainState& state, const Logs& logs) override { call(functions_.on_train_end, state, logs); }

 private:
  template <typename F, typename... Args>
  static void call(const F& function, Args&... args) {
    if (function) function(args...);
  }
  LambdaCallbackFunctions functions_;
};

}  // namespace tessera::model
