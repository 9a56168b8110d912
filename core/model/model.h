#pragma once
// model::Model: the Keras level of Tessera. This header is also the umbrella of
// core/model/ (configs, builder, summary, callbacks).
//
//   model::Model model(json::parse(R"([{"type": "flatten"}, {"type": "linear", "out_features": 10}])"));
//   model.compile({.optimizer = model::adamw({.lr = 1e-3}), .loss = "cross_entropy", .metrics = {"accuracy"}});
//   model::TensorBatchSource train(x, y, {.batch_size = 64});  // under mpirun: .world_size, .rank (each its share)
//   model.fit(train, {.epochs = 5, .callbacks = {std::make_shared<model::ProgressBar>()}});
//   std::cout << model.summary() << model.evaluate(test)["accuracy"];
//
// Layers given as specs are built at the first batch (or build()), with input sizes inferred from the data.
// With a data-parallel ParallelContext the same code trains on N ranks, each reading its share of the data
// (TensorBatchSourceOptions world_size and rank; an unsplit source warns): the module is wrapped (gradients averaged
// during backward, rank 0's initial weights everywhere), and every number in the logs is summed over ranks first,
// so all ranks see the same logs and take the same decisions; only rank 0 prints and writes files.
//
// Logs keys: loss and the metrics asked for (loss_metrics.h) for training (means over the epoch's samples, all
// ranks); val_loss, val_<metric> (when fit has validation data; exact over every sample once); lr (at epoch end);
// samples_per_sec (rows of x trained, all ranks); epoch_seconds; data_wait_seconds (this rank's time blocked on the
// next batch: read, converted and moved to the device).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/amp/autocast.h"
#include "core/amp/grad_scaler.h"
#include "core/model/batch_source.h"
#include "core/model/callback.h"
#include "core/model/callbacks.h"
#include "core/model/config_reader.h"
#include "core/model/loss_metrics.h"
#include "core/model/parallel_context.h"
#include "core/model/sequential_builder.h"
#include "core/model/summary.h"
#include "core/optim/lr_scheduler.h"
#include "core/optim/optim.h"

namespace tessera::model {

using OptimizerFactory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor> params)>;
// Made at the start of fit, stepped after every optimizer step; total_steps is what fit will run in all.
using SchedulerFactory = std::function<std::unique_ptr<optim::LRScheduler>(optim::Optimizer&, int64_t total_steps)>;

struct CompileOptions {
  OptimizerFactory optimizer{};
  // cross_entropy (logits, i64 labels), binary_cross_entropy (logits), mse, l1, huber (core/model/loss_metrics.h)
  std::string loss = "cross_entropy";
  // accuracy, top<k>_accuracy (e.g. top5_accuracy), confusion_matrix (evaluation only; per-class precision/recall)
  std::vector<std::string> metrics = {"accuracy"};
  double label_smoothing = 0.0;  // cross_entropy, as PyTorch's label_smoothing
  double huber_delta = 1.0;      // huber
  SchedulerFactory scheduler{};        // optional
  // "f32"; "bf16": forward and loss under autocast (core/amp/autocast.h), f32 master weights; "f16": the same with
  // dynamic loss scaling (amp::GradScaler: steps with inf/NaN gradients are skipped). Evaluation runs the same way.
  std::string precision = "f32";
  // > 0: gradients clipped to this global L2 norm before each step (torch.nn.utils.clip_grad_norm_ between backward
  // and step; after unscaling under f16, as with GradScaler.unscale_). On the device: the host reads nothing.
  double clip_grad_norm = 0.0;
  // > 1: each optimizer step averages the gradients of this many consecutive batches (micro-batches), as Keras's
  // gradient_accumulation_steps and a PyTorch loop that divides each micro-batch's loss by N and steps every N
  // batches. Under data parallelism all micro-batches but the last skip the gradient all-reduce (DDP's no_sync).
  // Groups start at each epoch's first batch; an epoch's last group may be shorter, and is then the mean of its
  // own batches. Steps (max_steps, schedules, checkpoints, callbacks' on_batch_end) count optimizer steps.
  int64_t gradient_accumulation_steps = 1;
  // Optimizer steps fit runs between two reads of the logged sums, as Keras's steps_per_execution: the sums of
  // those steps add up on the device and the host reads them once, so on a GPU it queues the next steps while
  // earlier ones run instead of waiting for each (one host wait per step with 1). Callbacks' on_batch_end (progress
  // bar, TensorBoard batch scalars, step checkpoints, TerminateOnNaN, stop_training, the preemption check) then run
  // once every N steps, with the logs of all steps so far; "batch_loss" is the mean loss of the steps since the
  // previous read; an epoch's or the run's last steps are read at its end. So a stop (a signal, a NaN loss) comes
  // up to N - 1 steps later. Training itself is the same for every N.
  int64_t steps_per_execution = 1;
};

// The phases fit marks through FitOptions::mark (for a timeline): each runs from its mark to the next one.
namespace phase {
inline constexpr const char* data_wait = "data wait";
inline constexpr const char* forward = "forward";
inline constexpr const char* backward = "backward";
inline constexpr const char* optimizer = "optimizer";
inline constexpr const char* after_step = "logs and callbacks";  // every kernel of the step is queued by now
inline constexpr const char* validation = "validation";
inline constexpr const char* epoch_end = "epoch-end callbacks";
inline constexpr const char* checkpoint = "checkpoint write";  // marked by io::ModelCheckpoint
}  // namespace phase

struct FitOptions {
  // The epoch to train up to, counted from the model's start (Keras's epochs with initial_epoch = epoch()), not
  // how many more: a model that has trained E epochs (a fit before, a checkpoint) trains epochs - E more, and none
  // when epochs <= E (fit then returns an empty History).
  int64_t epochs = 1;
  int64_t max_steps = -1;  // stop once this many optimizer steps have run in all (-1: no limit)
  BatchSource* validation = nullptr;
  std::vector<std::shared_ptr<Callback>> callbacks{};
  // Capture the training step in a CUDA graph after two eager steps and replay it (core/model/graphed_step.h):
  // same results, one launch per step. Needs a GPU (or the test device) and a single process.
  bool cuda_graph = false;
  // Called with a phase:: name at each phase boundary of training (not with cuda_graph); null: nothing marked.
  std::function<void(const char* phase)> mark{};
  // Keep each epoch's logs in the returned History. A caller that ignores it (tessera train) passes false: the logs
  // of every epoch, a confusion matrix's classes^2 cells included, would otherwise stay in memory for the whole fit.
  bool keep_history = true;
};

struct History {
  std::vector<Logs> epochs;  // one entry per epoch trained by this call (none when FitOptions::keep_history is false)
};

class Model {
 public:
  explicit Model(std::shared_ptr<nn::Module> module, std::shared_ptr<ParallelContext> parallel = nullptr);
  // Specs as in a `tessera train` config's model.layers; built by build() or at the first batch.
  explicit Model(nlohmann::json layer_specs, std::shared_ptr<ParallelContext> parallel = nullptr);

  void build(const Shape& sample_shape);  // no-op once built
  bool built() const { return module_ != nullptr; }
  void compile(CompileOptions options);

  History fit(BatchSource& train, const FitOptions& options = {});
  Logs evaluate(BatchSource& data);  // loss and metrics over every real sample of one epoch of `data`
  Tensor predict(BatchSource& data); // this rank's outputs of one epoch, in order, padding dropped

  // Layers, output shapes and parameters of a model built from specs (Keras's summary needs a built model too); of
  // a module of one's own, its children and their parameters.
  std::string summary() const;
  Shape output_shape() const;   // one sample's output (batch dimension left out); needs the same
  nn::Module& module() const;
  optim::Optimizer& optimizer() const;
  optim::LRScheduler* scheduler() const { return scheduler_.get(); }
  ParallelContext& parallel() const { return *parallel_; }
  // The loss scaler of an f16 model (its state goes into checkpoints); null otherwise.
  amp::GradScaler* grad_scaler() const { return grad_scaler_.get(); }

  // Progress, for checkpoints: optimizer steps taken and the next epoch to train. fit continues from here.
  int64_t step() const { return step_; }
  int64_t epoch() const { return epoch_; }
  void set_progress(int64_t step, int64_t epoch);  // and no epoch_sums
  // The training log sums (over every rank) of the epoch in progress, empty between epochs: a checkpoint taken inside
  // an epoch keeps them, so the epoch's row in a resumed run is the uninterrupted run's, not a mean over the batches
  // after the resume.
  const std::vector<double>& epoch_sums() const { return epoch_sums_; }
  void set_epoch_sums(std::vector<double> sums) { epoch_sums_ = std::move(sums); }
  // Steps the last fit ran as replays of its CUDA graph (FitOptions::cuda_graph), the rest having run eagerly.
  int64_t graph_replays() const { return graph_replays_; }
  // Applied to the scheduler when fit creates it (a checkpoint is loaded before fit starts).
  void set_pending_scheduler_state(StateDict state) { pending_scheduler_state_ = std::move(state); }

 private:
  void build_for(const Batch& batch);     // build() from the batch's sample shape, unless built
  // The next batch of `data`, moved to the model's device (its parameters', else the default device): a loader
  // yields host batches, and the model may live on any device.
  std::optional<Batch> next_batch(BatchSource& data) const;
  void ensure_ready(const Batch& first);  // build and wrap on first use
  // One optimizer step over `micro_batches` batches: `first`, then the others taken from `next` (only called
  // when micro_batches > 1); queued; returns the log sums of all of them (LossAndMetrics's sums: the host reads them once per step, after the whole step is queued, so a GPU
  // step never waits mid-way for a log value).
  Tensor train_step(const Batch& first, int64_t micro_batches = 1, const std::function<Batch()>& next = {});
  // Forward and backward of one micro-batch, its loss divided by micro_batches (gradients add up to their mean).
  Tensor accumulate_gradients(const Batch& batch, int64_t micro_batches);
  void mark(const char* phase) const {
    if (mark_) mark_(phase);
  }
  // Clipping (when asked for) and the optimizer step on the accumulated gradients; under f16 through the scaler.
  void apply_gradients();
  // The batches in the accumulation group starting at `position` of an epoch of `batches`.
  int64_t group_size(int64_t position, int64_t batches) const;
  // Autocast for the forward pass and the loss, as the precision asks (a disabled guard for f32).
  amp::AutocastGuard autocast() const;
  Logs logs_of(const std::vector<double>& sums) const;  // empty: no batch yet
  // Once per Model, on the main rank: under several ranks, a source that gives every rank all samples
  // (BatchSource::split_unspecified) makes each train on, or evaluate, the same batches.
  void warn_if_unsplit(const BatchSource& data, const char* use);
  static void restore_position(BatchSource& data, const nlohmann::json& where);

  std::optional<nlohmann::json> layer_specs_;
  std::optional<BuiltSequential> built_;  // when made from specs
  std::shared_ptr<nn::Module> module_;
  std::shared_ptr<nn::Module> trained_;   // module_ or its data-parallel wrapper
  std::shared_ptr<ParallelContext> parallel_;
  std::optional<CompileOptions> compiled_;
  std::shared_ptr<LossAndMetrics> loss_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<optim::LRScheduler> scheduler_;
  std::unique_ptr<amp::GradScaler> grad_scaler_;
  std::optional<StateDict> pending_scheduler_state_;
  int64_t step_ = 0;
  int64_t epoch_ = 0;
  std::vector<double> epoch_sums_;  // fit's accumulator for the epoch in progress (epoch_sums())
  int64_t graph_replays_ = 0;
  bool warned_unsplit_ = false;
  std::function<void(const char*)> mark_;  // FitOptions::mark while fit runs
};

// Optimizer factories for CompileOptions, from the optimizers' own option structs.
OptimizerFactory sgd(optim::SGDOptions options);
OptimizerFactory adam(optim::AdamOptions options);
OptimizerFactory adamw(optim::AdamWOptions options);

}  // namespace tessera::model
