#include "core/model/train_config.h"

#include <algorithm>

#include "core/check.h"
#include "core/model/callback.h"
#include "core/model/config_reader.h"
#include "core/model/config_schema.h"
#include "core/model/train_config_schema.h"
#include "kernels/device_info.h"

namespace tessera::model {

namespace {

int64_t at_least(ConfigReader& reader, const std::string& key, int64_t fallback, int64_t minimum) {
  reader.record_minimum(key, static_cast<double>(minimum));
  const int64_t value = reader.get<int64_t>(key, fallback);
  TESSERA_CHECK(value >= minimum, "config: ", reader.path_of(key), ": must be at least ", minimum, ", got ", value);
  return value;
}

double non_negative(ConfigReader& reader, const std::string& key, double fallback) {
  reader.record_minimum(key, 0);
  const double value = reader.get<double>(key, fallback);
  TESSERA_CHECK(value >= 0, "config: ", reader.path_of(key), ": must not be negative, got ", value);
  return value;
}

DataConfig parse_data(const nlohmann::json& json) {
  ConfigReader r(json, "data");
  DataConfig d;
  d.train = r.required<std::vector<std::string>>("train");
  TESSERA_CHECK(!d.train.empty(), "config: data.train: give at least one file or glob");
  d.test = r.get<std::vector<std::string>>("test", {});
  d.x = r.get<std::string>("x", d.x);
  d.y = r.get<std::string>("y", d.y);
  d.scale = r.get<double>("scale", d.scale);
  d.mean = r.get<std::vector<double>>("mean", {});
  d.std = r.get<std::vector<double>>("std", {});
  for (double s : d.std) TESSERA_CHECK(s > 0, "config: data.std: every value must be positive");
  d.layout = r.one_of("layout", {"nchw", "nhwc", "auto"}, d.layout);
  d.shuffle = r.get<bool>("shuffle", d.shuffle);
  d.drop_last = r.get<bool>("drop_last", d.drop_last);
  d.prefetch = at_least(r, "prefetch", d.prefetch, 1);
  d.check_finite = r.get<bool>("check_finite", d.check_finite);
  d.pin_memory = r.get<bool>("pin_memory", d.pin_memory);
  r.finish();
  return d;
}

OptimizerConfig parse_optimizer(const nlohmann::json& json) {
  ConfigReader r(json, "optimizer");
  OptimizerConfig o;
  o.type = r.variant("type", {"sgd", "adam", "adamw"});
  o.lr = r.get<double>("lr", o.type == "sgd" ? 0.01 : 1e-3);
  TESSERA_CHECK(o.lr > 0, "config: optimizer.lr: must be positive, got ", o.lr);
  o.weight_decay = non_negative(r, "weight_decay", o.type == "adamw" ? 0.01 : 0.0);
  if (o.type == "sgd") {
    o.momentum = non_negative(r, "momentum", 0.0);
    o.nesterov = r.get<bool>("nesterov", false);
    TESSERA_CHECK(!o.nesterov || o.momentum > 0, "config: optimizer.nesterov: needs a positive optimizer.momentum");
  } else {
    auto beta = [&](const std::string& key, double fallback) {
      const double value = r.get<double>(key, fallback);
      TESSERA_CHECK(value >= 0 && value < 1, "config: ", r.path_of(key), ": must be in [0, 1), got ", value);
      return value;
    };
    o.beta1 = beta("beta1", o.beta1);
    o.beta2 = beta("beta2", o.beta2);
    o.eps = non_negative(r, "eps", o.eps);  // Adam itself rejects a negative eps, without the key's name
  }
  o.clip_grad_norm = non_negative(r, "clip_grad_norm", 0.0);
  r.finish();
  return o;
}

ScheduleConfig parse_schedule(const nlohmann::json& json) {
  ConfigReader r(json, "schedule");
  ScheduleConfig s;
  s.type = r.variant("type", {"constant", "cosine", "step"});
  if (s.type == "cosine") {
    s.warmup_steps = at_least(r, "warmup_steps", 0, 0);
    s.min_lr = non_negative(r, "min_lr", 0.0);
  } else if (s.type == "step") {
    s.step_size = at_least(r, "step_size", s.step_size, 1);
    s.gamma = non_negative(r, "gamma", s.gamma);
  }
  r.finish();
  return s;
}

CheckpointConfig parse_checkpoint(const nlohmann::json& json) {
  ConfigReader r(json, "checkpoint");
  CheckpointConfig c;
  c.dir = r.required<std::string>("dir");
  c.keep = at_least(r, "keep", c.keep, 1);
  c.every_steps = at_least(r, "every_steps", c.every_steps, 0);
  r.finish();
  return c;
}

void parse_loss(ConfigReader& root, TrainConfig& c) {
  if (!root.has("loss")) return;
  const nlohmann::json& loss = root.child("loss");
  if (!loss.is_object()) {  // a name alone (the schema's enum binds the string form only)
    c.loss = root.one_of("loss", loss_names(), c.loss);
    return;
  }
  ConfigReader r(loss, "loss");
  c.loss = r.variant("type", loss_names());
  if (c.loss == "cross_entropy") {
    c.label_smoothing = r.get<double>("label_smoothing", 0.0);
    TESSERA_CHECK(c.label_smoothing >= 0 && c.label_smoothing <= 1, "config: loss.label_smoothing: must be in [0, 1], "
                  "got ", c.label_smoothing);
  }
  if (c.loss == "huber") {
    c.huber_delta = r.get<double>("delta", 1.0);
    TESSERA_CHECK(c.huber_delta > 0, "config: loss.delta: must be positive, got ", c.huber_delta);
  }
  r.finish();
}

TensorBoardConfig parse_tensorboard(const nlohmann::json& json) {
  ConfigReader r(json, "tensorboard");
  TensorBoardConfig t;
  t.batch_every = at_least(r, "batch_every", t.batch_every, 0);
  t.histogram_every = at_least(r, "histogram_every", t.histogram_every, 0);
  r.finish();
  return t;
}

std::string monitor_mode(ConfigReader& r) { return r.one_of("mode", {"auto", "min", "max"}, "auto"); }

EarlyStoppingOptions parse_early_stopping(const nlohmann::json& json) {
  ConfigReader r(json, "callbacks.early_stopping");
  EarlyStoppingOptions o;
  o.monitor = r.get<std::string>("monitor", o.monitor);
  o.min_delta = non_negative(r, "min_delta", o.min_delta);
  o.patience = at_least(r, "patience", o.patience, 0);
  o.mode = monitor_mode(r);
  o.restore_best_weights = r.get<bool>("restore_best_weights", o.restore_best_weights);
  o.start_from_epoch = at_least(r, "start_from_epoch", o.start_from_epoch, 0);
  r.finish();
  return o;
}

ReduceLROnPlateauOptions parse_reduce_lr_on_plateau(const nlohmann::json& json) {
  ConfigReader r(json, "callbacks.reduce_lr_on_plateau");
  ReduceLROnPlateauOptions o;
  o.monitor = r.get<std::string>("monitor", o.monitor);
  o.factor = r.get<double>("factor", o.factor);
  TESSERA_CHECK(o.factor > 0 && o.factor < 1, "config: ", r.path_of("factor"), ": must be in (0, 1), got ", o.factor);
  o.patience = at_least(r, "patience", o.patience, 0);
  o.min_delta = non_negative(r, "min_delta", o.min_delta);
  o.cooldown = at_least(r, "cooldown", o.cooldown, 0);
  o.min_lr = non_negative(r, "min_lr", o.min_lr);
  o.mode = monitor_mode(r);
  r.finish();
  return o;
}

CallbacksConfig parse_callbacks(const nlohmann::json& json) {
  ConfigReader r(json, "callbacks");
  CallbacksConfig c;
  if (r.has("early_stopping")) c.early_stopping = parse_early_stopping(r.child("early_stopping"));
  if (r.has("reduce_lr_on_plateau")) c.reduce_lr_on_plateau = parse_reduce_lr_on_plateau(r.child("reduce_lr_on_plateau"));
  r.finish();
  return c;
}

InitFromConfig parse_init_from(const nlohmann::json& json) {
  InitFromConfig c;
  if (json.is_string()) {
    c.file = json.get<std::string>();
  } else {
    ConfigReader r(json, "init_from");
    c.file = r.required<std::string>("file");
    c.exclude = r.get<std::vector<std::string>>("exclude", {});
    r.finish();
  }
  TESSERA_CHECK(!c.file.empty(), "config: init_from: empty file name; name a checkpoint, or leave out init_from");
  return c;
}

// A monitored log needs its source: val_* logs come from data.test. And it must be a log the run writes: a name it
// never logs ('val_acc', a metric not in metrics) failed only at the end of the first epoch, before that epoch's
// checkpoint (Keras warns and trains on).
void check_monitor(const std::string& key, const std::string& monitor, const DataConfig& data,
                   const std::vector<std::string>& metrics) {
  const bool validation = monitor.rfind("val_", 0) == 0;
  TESSERA_CHECK(!validation || !data.test.empty(), "config: ", key, ".monitor: '", monitor,
                "' is computed on data.test, which is empty (monitor a training log such as 'loss', or give "
                "data.test)");
  const std::string name = validation ? monitor.substr(4) : monitor;
  std::vector<std::string> logged = {"loss"};
  for (const auto& metric : metrics) {
    if (metric != "confusion_matrix") logged.push_back(metric);
  }
  if (!validation) logged.insert(logged.end(), std::begin(kEpochRunLogs), std::end(kEpochRunLogs));
  const bool per_class = validation && (name.rfind("precision/", 0) == 0 || name.rfind("recall/", 0) == 0) &&
                         std::find(metrics.begin(), metrics.end(), "confusion_matrix") != metrics.end();
  std::string names;
  for (const auto& log : logged) names += (names.empty() ? "" : ", ") + std::string(validation ? "val_" : "") + log;
  TESSERA_CHECK(per_class || std::find(logged.begin(), logged.end(), name) != logged.end(), "config: ", key,
                ".monitor: '", monitor, "' is not a log this run writes (", names, ")");
}

}  // namespace

TrainConfig parse_train_config(const nlohmann::json& json) {
  ConfigReader r(json, "");
  TrainConfig c;
  c.seed = r.get<uint64_t>("seed", 0);
  ConfigReader model(r.child("model"), "model");
  c.layers = model.child("layers");
  TESSERA_CHECK(c.layers.is_array() && !c.layers.empty(), "config: model.layers: expected a non-empty list of layers");
  model.finish();
  c.data = parse_data(r.child("data"));
  parse_loss(r, c);
  const bool classifies = c.loss == "cross_entropy" || c.loss == "binary_cross_entropy";
  c.metrics = r.get<std::vector<std::string>>("metrics", classifies ? std::vector<std::string>{"accuracy"}
                                                                    : std::vector<std::string>{});
  try {  // the names Model::compile accepts, checked now with the keys named
    LossAndMetrics({.loss = c.loss, .metrics = c.metrics, .label_smoothing = c.label_smoothing,
                    .huber_delta = c.huber_delta});
  } catch (const Error& error) {
    TESSERA_THROW("config: loss/metrics: ", error.message());
  }
  c.optimizer = r.has("optimizer") ? parse_optimizer(r.child("optimizer")) : OptimizerConfig{};
  if (r.has("schedule")) c.schedule = parse_schedule(r.child("schedule"));
  c.epochs = at_least(r, "epochs", c.epochs, 1);
  c.batch_size = at_least(r, "batch_size", c.batch_size, 1);
  c.gradient_accumulation_steps = at_least(r, "gradient_accumulation_steps", c.gradient_accumulation_steps, 1);
  c.steps_per_execution = at_least(r, "steps_per_execution", c.steps_per_execution, 1);
  c.eval_batch_size = at_least(r, "eval_batch_size", c.eval_batch_size, 1);
  if (r.has("max_steps")) c.max_steps = at_least(r, "max_steps", 0, 1);
  c.precision = r.one_of("precision", {"f32", "bf16", "f16"}, c.precision);
  c.device = r.one_of("device", {"auto", "cpu", "cuda"}, c.device);
  c.cuda_graph = r.get<bool>("cuda_graph", c.cuda_graph);
  c.log_dir = r.get<std::string>("log_dir", "");
  if (r.has("tensorboard")) c.tensorboard = parse_tensorboard(r.child("tensorboard"));
  if (r.has("checkpoint")) c.checkpoint = parse_checkpoint(r.child("checkpoint"));
  if (r.has("callbacks")) c.callbacks = parse_callbacks(r.child("callbacks"));
  if (r.has("init_from")) c.init_from = parse_init_from(r.child("init_from"));
  r.finish();
  if (c.callbacks.early_stopping) check_monitor("callbacks.early_stopping", c.callbacks.early_stopping->monitor, c.data, c.metrics);
  if (const auto& plateau = c.callbacks.reduce_lr_on_plateau) {
    check_monitor("callbacks.reduce_lr_on_plateau", plateau->monitor, c.data, c.metrics);
    TESSERA_CHECK(c.schedule.type == "constant", "config: callbacks.reduce_lr_on_plateau: cannot go with schedule.type '",
                  c.schedule.type, "' (the schedule sets the rate every step and would undo each reduction); use "
                  "schedule.type constant");
  }
  TESSERA_CHECK(!c.cuda_graph || c.gradient_accumulation_steps == 1,
                "config: cuda_graph: cannot go with gradient_accumulation_steps ", c.gradient_accumulation_steps);
  return c;
}

nlohmann::json to_json(const TrainConfig& c) {
  nlohmann::json j;
  j["seed"] = c.seed;
  j["model"] = {{"layers", c.layers}};
  j["data"] = {{"train", c.data.train}, {"test", c.data.test}, {"x", c.data.x},        {"y", c.data.y},
               {"scale", c.data.scale}, {"mean", c.data.mean}, {"std", c.data.std},    {"layout", c.data.layout},
               {"shuffle", c.data.shuffle}, {"drop_last", c.data.drop_last}, {"prefetch", c.data.prefetch},
               {"check_finite", c.data.check_finite}, {"pin_memory", c.data.pin_memory}};
  j["loss"] = {{"type", c.loss}};
  if (c.loss == "cross_entropy") j["loss"]["label_smoothing"] = c.label_smoothing;
  if (c.loss == "huber") j["loss"]["delta"] = c.huber_delta;
  j["metrics"] = c.metrics;
  nlohmann::json& o = j["optimizer"] = {{"type", c.optimizer.type}, {"lr", c.optimizer.lr},
                                        {"weight_decay", c.optimizer.weight_decay},
                                        {"clip_grad_norm", c.optimizer.clip_grad_norm}};
  if (c.optimizer.type == "sgd") {
    o["momentum"] = c.optimizer.momentum;
    o["nesterov"] = c.optimizer.nesterov;
  } else {
    o["beta1"] = c.optimizer.beta1;
    o["beta2"] = c.optimizer.beta2;
    o["eps"] = c.optimizer.eps;
  }
  nlohmann::json& s = j["schedule"] = {{"type", c.schedule.type}};
  if (c.schedule.type == "cosine") {
    s["warmup_steps"] = c.schedule.warmup_steps;
    s["min_lr"] = c.schedule.min_lr;
  } else if (c.schedule.type == "step") {
    s["step_size"] = c.schedule.step_size;
    s["gamma"] = c.schedule.gamma;
  }
  j["epochs"] = c.epochs;
  j["batch_size"] = c.batch_size;
  j["gradient_accumulation_steps"] = c.gradient_accumulation_steps;
  j["steps_per_execution"] = c.steps_per_execution;
  j["eval_batch_size"] = c.eval_batch_size;
  if (c.max_steps) j["max_steps"] = *c.max_steps;
  j["precision"] = c.precision;
  j["device"] = c.device;
  j["cuda_graph"] = c.cuda_graph;
  j["log_dir"] = c.log_dir;
  j["tensorboard"] = {{"batch_every", c.tensorboard.batch_every}, {"histogram_every", c.tensorboard.histogram_every}};
  if (!c.checkpoint.dir.empty())
    j["checkpoint"] = {{"dir", c.checkpoint.dir}, {"keep", c.checkpoint.keep}, {"every_steps", c.checkpoint.every_steps}};
  nlohmann::json callbacks = nlohmann::json::object();
  if (const auto& e = c.callbacks.early_stopping) {
    callbacks["early_stopping"] = {{"monitor", e->monitor}, {"min_delta", e->min_delta}, {"patience", e->patience},
                                   {"mode", e->mode}, {"restore_best_weights", e->restore_best_weights},
                                   {"start_from_epoch", e->start_from_epoch}};
  }
  if (const auto& p = c.callbacks.reduce_lr_on_plateau) {
    callbacks["reduce_lr_on_plateau"] = {{"monitor", p->monitor}, {"factor", p->factor}, {"patience", p->patience},
                                         {"min_delta", p->min_delta}, {"cooldown", p->cooldown},
                                         {"min_lr", p->min_lr}, {"mode", p->mode}};
  }
  if (!callbacks.empty()) j["callbacks"] = callbacks;
  if (!c.init_from.file.empty()) j["init_from"] = {{"file", c.init_from.file}, {"exclude", c.init_from.exclude}};
  return j;
}

Device choose_training_device(const std::string& requested, int assigned_gpu, int rank) {
  if (requested == "cpu") return Device();
  if (assigned_gpu >= 0) return Device(DeviceType::cuda, assigned_gpu);
  if (requested == "auto") return Device();
  // The runtime's own reason (a driver older than the runtime, no device visible under this rank's
  // CUDA_VISIBLE_DEVICES, a build without the CUDA path), not a list of guesses.
  const std::string why = kernels::cuda_unavailable_reason();
  TESSERA_THROW("config: device \"cuda\": rank ", rank, " has no GPU (", why.empty() ? "none assigned to it" : why,
                "); use \"auto\" or \"cpu\" to train on the CPU");
}

void apply_override(nlohmann::json& config, const std::string& assignment) {
  const size_t equals = assignment.find('=');
  TESSERA_CHECK(equals != std::string::npos && equals > 0, "--set ", assignment, ": expected key.path=value");
  const std::string path = assignment.substr(0, equals), text = assignment.substr(equals + 1);
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;  // a bare word: a string
  nlohmann::json* node = &config;
  nlohmann::json* parent = nullptr;
  std::vector<std::string> keys;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    TESSERA_CHECK(!key.empty(), "--set ", assignment, ": empty key in ", path);
    parent = node;
    keys.push_back(key);
    if (node->is_array()) {
      TESSERA_CHECK(key.find_first_not_of("0123456789") == std::string::npos && key.size() < 10 &&
                        std::stoul(key) < node->size(),
                    "--set ", assignment, ": ", path.substr(0, dot), " is not an element of the list (it has ",
                    node->size(), ")");
      node = &(*node)[std::stoul(key)];
    } else {
      TESSERA_CHECK(node->is_object() || node->is_null(), "--set ", assignment, ": ", path.substr(0, start - 1),
                    " is not an object");
      node = &(*node)[key];
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  *node = value;
  // `--set schedule.type=cosine` on a "step" schedule: the keys only the old variant takes (step_size) would make
  // the result invalid, so they go; keys the new variant takes stay, and a bad type is left for the parser.
  const std::vector<std::string> object_path(keys.begin(), keys.end() - 1);
  if (auto forbidden = keys_forbidden_by_variant(train_config_schema(), object_path, keys.back(), value)) {
    for (const auto& key : *forbidden) parent->erase(key);
  }
}

OptimizerFactory make_optimizer_factory(const OptimizerConfig& c) {
  if (c.type == "sgd") return sgd({.lr = c.lr, .momentum = c.momentum, .weight_decay = c.weight_decay, .nesterov = c.nesterov});
  if (c.type == "adam") return adam({.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2, .eps = c.eps, .weight_decay = c.weight_decay});
  return adamw({.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2, .eps = c.eps, .weight_decay = c.weight_decay});
}

SchedulerFactory make_scheduler_factory(const ScheduleConfig& c) {
  if (c.type == "cosine") {
    return [c](optim::Optimizer& optimizer, int64_t total_steps) -> std::unique_ptr<optim::LRScheduler> {
      return std::make_unique<optim::WarmupCosineLR>(
          optimizer, optim::WarmupCosineOptions{.warmup_steps = c.warmup_steps, .total_steps = total_steps,
                                                .min_lr = c.min_lr});
    };
  }
  if (c.type == "step") {
    return [c](optim::Optimizer& optimizer, int64_t) -> std::unique_ptr<optim::LRScheduler> {
      return std::make_unique<optim::StepLR>(optimizer, c.step_size, c.gamma);
    };
  }
  return nullptr;
}

}  // namespace tessera::model
