#include "core/model/model.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/autograd/grad_mode.h"
#include "core/check.h"
#include "core/model/graphed_step.h"
#include "core/model/fit_warnings.h"
#include "core/ops.h"
#include "core/optim/clip_grad.h"

namespace tessera::model {

namespace {

// Sums over real samples (LossAndMetrics's layout), summed over ranks before they reach the logs. The device sums of
// CompileOptions::steps_per_execution steps are read by the host once (fit's one synchronisation per read).
std::vector<double> read_sums(const Tensor& sums) { return sums.to_vector<double>(); }

void add_sums(std::vector<double>& into, const std::vector<double>& more) {
  if (into.empty()) into.assign(more.size(), 0.0);
  TESSERA_CHECK(more.size() == into.size(), "Model: ", more.size(), " sums added to ", into.size());
  for (size_t i = 0; i < more.size(); ++i) into[i] += more[i];
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

Model::Model(std::shared_ptr<nn::Module> module, std::shared_ptr<ParallelContext> parallel)
    : module_(std::move(module)), parallel_(parallel ? std::move(parallel) : std::make_shared<LocalContext>()) {
  TESSERA_CHECK(module_ != nullptr, "Model: the module is null");
}

Model::Model(nlohmann::json layer_specs, std::shared_ptr<ParallelContext> parallel)
    : layer_specs_(std::move(layer_specs)),
      parallel_(parallel ? std::move(parallel) : std::make_shared<LocalContext>()) {}

void Model::build(const Shape& sample_shape) {
  if (module_) return;
  built_ = build_sequential(*layer_specs_, sample_shape);
  module_ = built_->module;
  if (compiled_) optimizer_ = compiled_->optimizer(module_->parameters());
}

void Model::compile(CompileOptions options) {
  TESSERA_CHECK(options.optimizer != nullptr, "Model::compile: no optimizer given");
  // Everything that can throw comes before anything changes: a refused compile leaves the model as it was.
  auto loss = std::make_shared<LossAndMetrics>(LossOptions{.loss = options.loss, .metrics = options.metrics,
                                                           .label_smoothing = options.label_smoothing,
                                                           .huber_delta = options.huber_delta});
  // Keras's canonical binary classifier ends in a sigmoid, for BinaryCrossentropy's default from_logits=False; this
  // loss takes logits, so that sigmoid would be applied twice and accuracy (logit > 0) would always predict 1.
  TESSERA_CHECK(options.loss != "binary_cross_entropy" || !layer_specs_ || !layer_specs_->is_array() ||
                    layer_specs_->empty() || layer_specs_->back().value("type", std::string()) != "sigmoid",
                "Model::compile: binary_cross_entropy takes logits (BCEWithLogitsLoss, Keras's from_logits=True), but "
                "the last layer is a sigmoid: remove it (tessera predict writes the sigmoid as probabilities)");
  TESSERA_CHECK(options.precision == "f32" || options.precision == "bf16" || options.precision == "f16",
                "Model::compile: unknown precision '", options.precision, "' (expected f32, bf16 or f16)");
  TESSERA_CHECK(options.clip_grad_norm >= 0 && std::isfinite(options.clip_grad_norm),
                "Model::compile: clip_grad_norm must be a finite norm >= 0 (0: no clipping), got ",
                options.clip_grad_norm);
  TESSERA_CHECK(options.gradient_accumulation_steps >= 1,
                "Model::compile: gradient_accumulation_steps must be >= 1 (1: a step per batch), got ",
                options.gradient_accumulation_steps);
  TESSERA_CHECK(options.steps_per_execution >= 1,
                "Model::compile: steps_per_execution must be >= 1 (1: the logs read after every step), got ",
                options.steps_per_execution);
  // The optimizer exists as soon as the parameters do (a checkpoint may be loaded into it before fit).
  std::unique_ptr<optim::Optimizer> optimizer = module_ ? options.optimizer(module_->parameters()) : nullptr;
  loss_ = std::move(loss);
  grad_scaler_ = options.precision == "f16" ? std::make_unique<amp::GradScaler>() : nullptr;
  compiled_ = std::move(options);
  scheduler_.reset();
  optimizer_ = std::move(optimizer);
}

nn::Module& Model::module() const {
  TESSERA_CHECK(module_ != nullptr, "Model: not built yet (call build(sample_shape) or fit first)");
  return *module_;
}

optim::Optimizer& Model::optimizer() const {
  TESSERA_CHECK(optimizer_ != nullptr, "Model: no optimizer yet (compile, then build or fit)");
  return *optimizer_;
}

std::string Model::summary() const {
  if (built_) return model::summary(*built_);
  TESSERA_CHECK(module_ != nullptr, "Model::summary: the model is not built yet (call build(sample_shape))");
  return model::summary(*module_);
}

Shape Model::output_shape() const {
  TESSERA_CHECK(built_.has_value(), "Model::output_shape: the model is not built yet (call build(sample_shape))");
  return built_->layers.empty() ? built_->sample_shape : built_->layers.back().output_shape;
}

void Model::set_progress(int64_t step, int64_t epoch) {
  step_ = step;
  epoch_ = epoch;
  epoch_sums_.clear();
}

void Model::build_for(const Batch& batch) {
  if (!module_) build(Shape(batch.x.shape().begin() + 1, batch.x.shape().end()));
}

void Model::ensure_ready(const Batch& first) {
  build_for(first);
  if (!trained_) trained_ = parallel_->wrap(module_);
}

amp::AutocastGuard Model::autocast() const {
  const std::string precision = compiled_ ? compiled_->precision : "f32";  // predict needs no compile
  return amp::AutocastGuard(precision == "f16" ? DType::f16 : DType::bf16, precision != "f32");
}

Tensor Model::accumulate_gradients(const Batch& batch, int64_t micro_batches) {
  Tensor sums, loss;
  mark(phase::forward);
  {
    const amp::AutocastGuard guard = autocast();
    TESSERA_CHECK(batch.y.defined(), "Model::fit: the training batches have no labels (y)");
    loss = loss_->compute((*trained_)(batch.x), batch.y, batch.valid, /*evaluation=*/false, sums);
  }
  mark(phase::backward);
  if (micro_batches > 1) loss = loss / static_cast<double>(micro_batches);
  (grad_scaler_ ? grad_scaler_->scale(loss) : loss).backward();
  return sums;
}

void Model::apply_gradients() {
  mark(phase::optimizer);
  const double max_norm = compiled_->clip_grad_norm;
  if (grad_scaler_) {
    if (max_norm > 0) {
      grad_scaler_->unscale_(*optimizer_);  // clip the true gradients, not the scaled ones
      optim::clip_grad_norm_on_device_(module_->parameters(), max_norm);
    }
    grad_scaler_->step(*optimizer_);
    grad_scaler_->update();
  } else {
    if (max_norm > 0) optim::clip_grad_norm_on_device_(module_->parameters(), max_norm);
    optimizer_->step();
  }
}

Tensor Model::train_step(const Batch& first, int64_t micro_batches, const std::function<Batch()>& next) {
  optimizer_->zero_grad();
  Tensor sums;
  for (int64_t i = 0; i < micro_batches; ++i) {
    // Every micro-batch but the last only accumulates: the last one's backward all-reduces the sum.
    const std::shared_ptr<void> local_only = i + 1 < micro_batches ? parallel_->no_sync(*trained_) : nullptr;
    const Tensor batch_sums = accumulate_gradients(i == 0 ? first : next(), micro_batches);
    sums = i == 0 ? batch_sums : sums + batch_sums;
  }
  apply_gradients();
  return sums;
}

int64_t Model::group_size(int64_t position, int64_t batches) const {
  return std::clamp<int64_t>(batches - position, 1, compiled_->gradient_accumulation_steps);
}

void Model::warn_if_unsplit(const BatchSource& data, const char* use) {
  if (warned_unsplit_ || parallel_->size() < 2 || !data.split_unspecified()) return;
  warned_unsplit_ = true;
  if (parallel_->is_main()) warn_unsplit_data(use, parallel_->size());
}

// evaluate and predict read `data` through, then put it back where it stood: a source left at the end of its epoch 0
// looked, to a later fit of a model at epoch 0, like an epoch resumed at its end, and that epoch trained nothing
// (evaluate(train) before fit(train), as Keras users check the initial loss). Keras's fit and evaluate each iterate
// afresh. Sources without a state are left as they are.
void Model::restore_position(BatchSource& data, const nlohmann::json& where) {
  if (!where.is_null()) data.load_state(where);
}

Logs Model::logs_of(const std::vector<double>& sums) const {
  return loss_->logs(sums.empty() ? loss_->empty_sums() : sums);
}

History Model::fit(BatchSource& train, const FitOptions& options) {
  TESSERA_CHECK(compiled_.has_value(), "Model::fit: call compile first");
  TESSERA_CHECK(options.epochs > 0, "Model::fit: epochs must be positive");
  warn_if_unsplit(train, "fit");  // the validation data: in evaluate
  const int64_t batches = train.batches_per_epoch();
  const int64_t accumulation = compiled_->gradient_accumulation_steps;
  // Progress is counted in epochs (and the position inside one), not in steps: a run resumed at another world size
  // has another number of steps per epoch, so the steps taken so far say nothing about the epochs left. The plan
  // is the steps taken plus the batches of the epochs still to train.
  // With gradient accumulation an epoch takes one step per group of batches (the last group may be short).
  const auto steps_from = [&](int64_t position) { return ceil_div(batches - position, accumulation); };
  const bool resumes_mid_epoch = train.epoch() == epoch_ && train.position() > 0;
  const int64_t remaining = std::max<int64_t>(
      0, (options.epochs - epoch_) * steps_from(0) -
             (resumes_mid_epoch ? steps_from(0) - steps_from(std::min(train.position(), batches)) : 0));
  const int64_t planned = step_ + remaining;
  const int64_t total_steps = options.max_steps >= 0 ? std::min(options.max_steps, planned) : planned;
  // Before any collective of training: ranks that would take different steps (uneven sources, each rank's own
  // reading of a checkpoint folder on resume) stop here with one error instead of mismatched collectives.
  parallel_->require_same_on_every_rank({{"the batches per epoch", batches},
                                         {"the step training starts from", step_},
                                         {"the epoch training starts from", epoch_},
                                         {"the data's position in its epoch", train.position()},
                                         {"the steps to train", total_steps}});

  TrainState state{.model = this, .epochs = options.epochs, .step = step_, .batches_per_epoch = batches,
                   .is_main = parallel_->is_main(), .callbacks = &options.callbacks};
  TESSERA_CHECK(!options.cuda_graph || parallel_->size() == 1, "Model::fit: cuda_graph with data parallelism (",
                parallel_->size(), " ranks) is not supported yet: the gradient all-reduce runs on the host");
  TESSERA_CHECK(!options.cuda_graph || !options.mark, "Model::fit: a timeline (FitOptions::mark) cannot go with "
                "cuda_graph: the graph's kernels run as one launch");
  TESSERA_CHECK(!options.cuda_graph || accumulation == 1, "Model::fit: cuda_graph with gradient_accumulation_steps "
                "is not supported yet: the graph holds one batch's step");
  mark_ = options.mark;
  struct ClearMark {  // also when fit throws: a later fit or evaluate marks nothing unless asked
    std::function<void(const char*)>& mark;
    ~ClearMark() { mark = nullptr; }
  } clear_mark{mark_};
  std::optional<GraphedStep> graphed;
  if (options.cuda_graph) graphed.emplace([this](const Batch& b) { return train_step(b); });

  History history;
  Logs last_logs;
  bool started = false;
  for (int64_t epoch = epoch_; epoch < options.epochs && step_ < total_steps && !state.stop_training; ++epoch) {
    // A source restored to the middle of this epoch (resume) goes on from there; otherwise the epoch starts afresh.
    const bool resuming_mid_epoch = !started && train.epoch() == epoch && train.position() > 0;
    if (!resuming_mid_epoch) train.set_epoch(epoch);
    const int64_t first_position = train.position();
    const auto epoch_start = Clock::now();
    double data_wait_seconds = 0;  // this rank's time blocked on the next batch (read, converted, moved)
    // Rows of x taken since the logs were last read (this rank), and every rank's rows trained in this fit's part of
    // the epoch: samples_per_sec counts samples, not loss terms (an (N, d) target has N * d, ignored labels none).
    double unread_rows = 0, rows_trained = 0;
    const auto timed_next_batch = [&] {
      mark(phase::data_wait);
      const auto asked = Clock::now();
      std::optional<Batch> next = next_batch(train);
      data_wait_seconds += seconds_since(asked);
      if (next) unread_rows += static_cast<double>(next->x.shape().at(0));
      return next;
    };
    const std::function<Batch()> next_in_group = [&] {
      std::optional<Batch> next = timed_next_batch();
      TESSERA_CHECK(next.has_value(), "Model::fit: the training data ended inside a gradient accumulation group (",
                    batches, " batches per epoch announced)");
      return std::move(*next);
    };
    std::optional<Batch> batch = timed_next_batch();
    TESSERA_CHECK(batch.has_value(), "Model::fit: the training data has no batches for epoch ", epoch);
    ensure_ready(*batch);
    if (!started) {
      started = true;
      if (compiled_->scheduler && !scheduler_) {
        scheduler_ = compiled_->scheduler(*optimizer_, total_steps);
        if (pending_scheduler_state_) scheduler_->load_state_dict(*pending_scheduler_state_);
        pending_scheduler_state_.reset();
      }
      state.optimizer = optimizer_.get();
      for (auto& callback : options.callbacks) callback->on_train_begin(state);
    }
    state.epoch = epoch;
    state.batch_in_epoch = first_position;
    module_->train();
    for (auto& callback : options.callbacks) callback->on_epoch_begin(state);
    // The epoch's sums start afresh, or go on from the checkpoint's when resuming inside it. (Sums of another
    // layout, from a run resumed with other metrics, are dropped: the row then averages the batches trained since
    // the resume.) Training sums never hold confusion cells (LossAndMetrics::compute adds them in evaluation
    // only), so the layout to compare with is empty_sums() without classes, not evaluation's.
    if (!resuming_mid_epoch || epoch_sums_.size() != loss_->empty_sums().size()) epoch_sums_.clear();
    // The sums of the steps not read yet, added on the device (steps_per_execution), and how many steps they hold.
    Tensor unread;
    int64_t unread_steps = 0;
    // Reads them: one small all-reduce (the rows ride along), so every rank logs the same numbers and callbacks
    // decide alike.
    const auto read_and_call_back = [&] {
      std::vector<double> packed = read_sums(unread);
      packed.push_back(unread_rows);
      parallel_->allreduce_sum(packed);
      rows_trained += packed.back();
      packed.pop_back();
      unread_rows = 0;
      add_sums(epoch_sums_, packed);
      state.steps_since_last_batch_end = unread_steps;
      unread = Tensor();
      unread_steps = 0;
      Logs logs = logs_of(epoch_sums_);
      logs["batch_loss"] = packed[0] / std::max(packed[1], 1.0);
      for (auto& callback : options.callbacks) callback->on_batch_end(state, logs);
    };
    while (batch) {
      const int64_t group = group_size(state.batch_in_epoch, batches);
      const Tensor step_sums = graphed ? (*graphed)(*batch) : train_step(*batch, group, next_in_group);
      mark(phase::after_step);
      if (scheduler_) scheduler_->step();
      ++step_;
      {
        NoGradGuard no_grad;
        // A graphed step's sums live in the graph's output, which its next replay overwrites: copied.
        unread = unread.defined() ? unread + step_sums : graphed ? step_sums.clone() : step_sums;
      }
      ++unread_steps;
      state.step = step_;
      state.batch_in_epoch += group;
      const bool last = step_ >= total_steps || state.batch_in_epoch >= batches;
      if (unread_steps == compiled_->steps_per_execution || last) read_and_call_back();
      // Checked before taking the next batch, so a stopped run's source stands exactly after its last step.
      if (state.stop_training || step_ >= total_steps) break;
      batch = timed_next_batch();
    }
    if (unread_steps > 0) read_and_call_back();  // the data ended before the batches it announced
    const double epoch_seconds = seconds_since(epoch_start);
    last_logs = logs_of(epoch_sums_);
    if (options.validation) {
      mark(phase::validation);
      const Logs validation = evaluate(*options.validation);
      for (const auto& [key, value] : validation) last_logs["val_" + key] = value;
      module_->train();
    }
    last_logs["lr"] = optimizer_->lr();
    // Every rank's samples trained in this epoch_seconds: a resumed epoch's earlier ones are not.
    last_logs["samples_per_sec"] = rows_trained / std::max(epoch_seconds, 1e-9);
    last_logs["epoch_seconds"] = epoch_seconds;
    last_logs["data_wait_seconds"] = data_wait_seconds;
    // The epoch is complete unless training stopped inside it; a checkpoint written now resumes at the next one.
    const bool epoch_complete = state.batch_in_epoch == batches;
    epoch_ = epoch_complete ? epoch + 1 : epoch;
    if (epoch_complete) epoch_sums_.clear();
    mark(phase::epoch_end);
    for (auto& callback : options.callbacks) callback->on_epoch_end(state, last_logs);
    if (options.keep_history) history.epochs.push_back(last_logs);
  }
  graph_replays_ = graphed ? graphed->replays() : 0;
  // Paired with on_train_begin: a fit with nothing left to train (epochs already reached) calls neither, rather than
  // an on_train_end with empty logs and no optimizer that replays a callback's last run (EarlyStopping's restore).
  if (started) {
    for (auto& callback : options.callbacks) callback->on_train_end(state, last_logs);
  } else if (parallel_->is_main()) {
    warn_nothing_to_train(epoch_, step_, options.epochs, options.max_steps);
  }
  return history;
}

Logs Model::evaluate(BatchSource& data) {
  TESSERA_CHECK(compiled_.has_value(), "Model::evaluate: call compile first");
  warn_if_unsplit(data, "evaluate");
  const nlohmann::json where = data.state();  // put back at the end (restore_position)
  data.set_epoch(0);
  NoGradGuard no_grad;
  // Built and wrapped before the first batch, on every rank: wrapping is collective (DistributedDataParallel
  // compares the models and broadcasts rank 0's weights), so a rank whose share has no batch must not skip it, and
  // its zeros below need the built model's output shape.
  if (!module_) build(data.sample_shape());
  if (!trained_) trained_ = parallel_->wrap(module_);
  // Every rank evaluates rank 0's model: after a training step each rank's BatchNorm statistics hold its own last
  // batch (DDP copies rank 0's before each training forward), and the logs would mix the replicas' statistics.
  parallel_->sync_buffers(*trained_);
  module_->eval();
  Tensor running;  // the batches' sums, added on the device: read once at the end
  while (auto batch = next_batch(data)) {
    Tensor sums;
    const amp::AutocastGuard guard = autocast();
    TESSERA_CHECK(batch->y.defined(), "Model::evaluate: the batches have no labels (y)");
    loss_->compute((*module_)(batch->x), batch->y, batch->valid, /*evaluation=*/true, sums);
    running = running.defined() ? running + sums : sums;
  }
  // A rank without batches still joins the sum, with zeros of the evaluation layout (confusion cells included),
  // learnt from the ranks with batches (their size and count, one small all-reduce): a forward of its own would
  // need inputs of the data's dtype (an Embedding's indices) and the batches' autocast.
  std::vector<double> packed = running.defined() ? read_sums(running) : std::vector<double>();
  std::vector<double> layout = {static_cast<double>(packed.size()), packed.empty() ? 0.0 : 1.0};
  parallel_->allreduce_sum(layout);
  if (packed.empty()) {
    packed.assign(layout[1] > 0 ? static_cast<size_t>(std::llround(layout[0] / layout[1]))
                                : loss_->empty_sums().size(), 0.0);
  }
  parallel_->allreduce_sum(packed);
  restore_position(data, where);
  // Every rank sees the same sums: all refuse together. Keras refuses an empty evaluation too; logging 0 would pass
  // for a perfect loss.
  TESSERA_CHECK(packed.at(1) > 0, "Model::evaluate: nothing to evaluate: the data has no samples",
                loss_->classifies() ? " (or every label is the ignore index)" : "");
  return logs_of(packed);
}

std::optional<Batch> Model::next_batch(BatchSource& data) const {
  std::optional<Batch> batch = data.next();
  if (!batch) return batch;
  const std::vector<Tensor> params = module_ ? module_->parameters() : std::vector<Tensor>();
  const Device device = params.empty() ? default_device() : params.front().device();
  for (Tensor* t : {&batch->x, &batch->y, &batch->valid})
    if (t->defined() && t->device() != device) *t = t->to(device);
  return batch;
}

Tensor Model::predict(BatchSource& data) {
  const nlohmann::json where = data.state();  // put back at the end (restore_position)
  data.start_in_order();  // the rows of the data, in order, whatever the source's shuffle
  NoGradGuard no_grad;
  std::vector<Tensor> outputs, real;  // real: which rows are samples, not padding
  while (auto batch = next_batch(data)) {
    build_for(*batch);
    module_->eval();
    Tensor out;
    {
      const amp::AutocastGuard guard = autocast();
      out = (*module_)(batch->x);
    }
    real.push_back(batch->valid.defined()
                       ? batch->valid
                       : ones({out.size(0)}, {.dtype = DType::boolean, .device = out.device()}));
    outputs.push_back(out);
  }
  restore_position(data, where);
  TESSERA_CHECK(!outputs.empty(), "Model::predict: the data has no batches");
  Tensor all = cat(outputs, 0);
  // The padding is dropped once, at the end: a read of the masks per batch would make the host wait for a device
  // at every batch.
  const std::vector<int64_t> is_real = cat(real, 0).to_vector<int64_t>();
  std::vector<int64_t> keep;
  for (size_t i = 0; i < is_real.size(); ++i) {
    if (is_real[i]) keep.push_back(static_cast<int64_t>(i));
  }
  if (keep.size() == is_real.size()) return all;
  return index_select(all, 0, tensor(keep).to(all.device()));
}

OptimizerFactory sgd(optim::SGDOptions options) {
  return [options](std::vector<Tensor> params) { return std::make_unique<optim::SGD>(std::move(params), options); };
}
OptimizerFactory adam(optim::AdamOptions options) {
  return [options](std::vector<Tensor> params) { return std::make_unique<optim::Adam>(std::move(params), options); };
}
OptimizerFactory adamw(optim::AdamWOptions options) {
  return [options](std::vector<Tensor> params) { return std::make_unique<optim::AdamW>(std::move(params), options); };
}

}  // namespace tessera::model
