#include "core/model/callbacks.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "core/log.h"
#include "core/check.h"
#include "core/model/model.h"

namespace tessera::model {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string duration_text(double seconds) {
  const int64_t s = static_cast<int64_t>(std::lround(seconds));
  char text[32];
  if (s >= 3600) std::snprintf(text, sizeof(text), "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
  else std::snprintf(text, sizeof(text), "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  return text;
}

// " - loss: 0.4213 - accuracy: 0.8512" for the keys present, in a fixed order.
std::string metrics_text(const Logs& logs, const std::vector<std::string>& keys) {
  std::string text;
  char value[48];
  for (const auto& key : keys) {
    auto it = logs.find(key);
    if (it == logs.end()) continue;
    std::snprintf(value, sizeof(value), key == "lr" ? "%.3g" : "%.4f", it->second);
    text += " - " + key + ": " + value;
  }
  return text;
}

// The loss and every metric in `logs` (Keras prints them all, top5_accuracy too), training ones first, then
// val_*: not the timings, the running batch loss or the per-class confusion entries (names with a '/').
std::vector<std::string> metric_keys(const Logs& logs, bool with_validation) {
  std::vector<std::string> names = {"loss"};
  for (const auto& [key, value] : logs) {
    const bool run_log = std::find(std::begin(kEpochRunLogs), std::end(kEpochRunLogs), key) != std::end(kEpochRunLogs);
    const bool per_class = key.find('/') != std::string::npos;
    if (key == "loss" || key == "batch_loss" || run_log || per_class || key.rfind("val_", 0) == 0) continue;
    names.push_back(key);
  }
  std::vector<std::string> keys = names;
  if (with_validation) {
    for (const auto& name : names) keys.push_back("val_" + name);
    keys.push_back("lr");
  }
  return keys;
}

}  // namespace

bool higher_is_better(const std::string& monitor) {
  for (const char* better_higher : {"acc", "precision", "recall"})
    if (monitor.find(better_higher) != std::string::npos) return true;
  return false;
}

// ---- ProgressBar

namespace {

bool under_launcher() {
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "SLURM_JOB_ID", "PMI_RANK"}) {
    if (std::getenv(variable)) return true;
  }
  return false;
}

}  // namespace

bool redraws_in_place(std::FILE* out) { return isatty(fileno(out)) != 0 && !under_launcher(); }

ProgressBar::ProgressBar(std::FILE* out, ProgressStyle style)
    : out_(out),
      terminal_(style == ProgressStyle::bar ||
                (style == ProgressStyle::automatic && redraws_in_place(out))) {}

void ProgressBar::on_epoch_begin(TrainState& state) {
  epoch_start_ = now_seconds();
  first_batch_ = state.batch_in_epoch;
  last_draw_ = -1;
}

void ProgressBar::on_batch_end(TrainState& state, const Logs& logs) {
  if (!state.is_main || !terminal_) return;
  const double now = now_seconds();
  const bool last = state.batch_in_epoch == state.batches_per_epoch;
  if (!last && now - last_draw_ < 0.1) return;  // at most ten redraws a second
  last_draw_ = now;
  const int width = 30;
  const int64_t done = state.batch_in_epoch, total = std::max<int64_t>(state.batches_per_epoch, 1);
  const int filled = static_cast<int>(width * done / total);
  std::string bar(filled, '=');
  if (filled < width) bar += '>' + std::string(width - filled - 1, '.');
  const double elapsed = now - epoch_start_;
  const double per_batch = elapsed / std::max<int64_t>(done - first_batch_, 1);
  std::fprintf(out_, "\rEpoch %lld/%lld [%s] %lld/%lld%s - ETA %s   ", (long long)(state.epoch + 1),
               (long long)state.epochs, bar.c_str(), (long long)done, (long long)total,
               metrics_text(logs, metric_keys(logs, false)).c_str(), duration_text(per_batch * (total - done)).c_str());
  std::fflush(out_);
}

void ProgressBar::on_epoch_end(TrainState& state, const Logs& logs) {
  if (!state.is_main) return;
  if (terminal_) std::fputc('\n', out_);
  const auto value = [&](const char* key) { return logs.count(key) ? logs.at(key) : 0.0; };
  char rate[96];
  std::snprintf(rate, sizeof(rate), " - %.0f samples/s - %s - data wait %.1f%%", value("samples_per_sec"),
                duration_text(value("epoch_seconds")).c_str(),
                100.0 * value("data_wait_seconds") / std::max(value("epoch_seconds"), 1e-9));
  std::fprintf(out_, "Epoch %lld/%lld - step %lld%s%s\n", (long long)(state.epoch + 1), (long long)state.epochs,
               (long long)state.step,
               metrics_text(logs, metric_keys(logs, true)).c_str(), rate);
  std::fflush(out_);
}

// ---- CsvLogger

const std::vector<std::string>& CsvLogger::default_columns() {
  static const std::vector<std::string> columns = {"loss", "accuracy", "val_loss", "val_accuracy",
                                                   "lr", "samples_per_sec", "epoch_seconds",
                                                   "data_wait_seconds"};
  return columns;
}

namespace {

// A CSV file of one row group per epoch, opened for appending (a resumed run goes on in the same file); `fresh`:
// absent or empty, so the caller writes the header first.
std::ofstream open_for_append(const std::string& path, const char* who, bool& fresh) {
  std::error_code error;
  fresh = !std::filesystem::exists(path) || std::filesystem::file_size(path, error) == 0;
  // Its folder is made, as ModelCheckpoint's and TensorBoard's are (a failure shows in the check below).
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder, error);
  std::ofstream out(path, std::ios::app);
  TESSERA_CHECK(out.good(), who, ": cannot write ", path, ": ", std::strerror(errno));
  return out;
}

}  // namespace

CsvLogger::CsvLogger(std::string path, std::vector<std::string> columns)
    : path_(std::move(path)), columns_(std::move(columns)) {}

void CsvLogger::on_epoch_end(TrainState& state, const Logs& logs) {
  if (!state.is_main) return;
  bool fresh = false;
  std::ofstream out = open_for_append(path_, "CsvLogger", fresh);
  if (fresh) {
    out << "epoch,step";
    for (const auto& column : columns_) out << "," << column;
    out << "\n";
  }
  out << state.epoch + 1 << "," << state.step;
  char value[40];
  for (const auto& column : columns_) {
    out << ",";
    auto it = logs.find(column);
    if (it == logs.end()) continue;
    std::snprintf(value, sizeof(value), "%.9g", it->second);
    out << value;
  }
  out << "\n";
  out.flush();  // a full disk shows here, not in the destructor's close, which reports nothing
  TESSERA_CHECK(out.good(), "CsvLogger: cannot write ", path_, ": ", std::strerror(errno));
}

// ---- ConfusionMatrixLogger

int64_t confusion_classes(const Logs& logs, const std::string& prefix) {
  int64_t classes = 0;
  while (logs.count(prefix + "confusion_matrix/" + std::to_string(classes) + "/0")) ++classes;
  return classes;
}

void ConfusionMatrixLogger::on_epoch_end(TrainState& state, const Logs& logs) {
  const int64_t classes = confusion_classes(logs, "val_");
  if (!state.is_main || classes == 0) return;
  bool fresh = false;
  std::ofstream out = open_for_append(path_, "ConfusionMatrixLogger", fresh);
  if (fresh) {
    out << "epoch,true_class";
    for (int64_t c = 0; c < classes; ++c) out << ",predicted_" << c;
    out << ",precision,recall\n";
  }
  for (int64_t t = 0; t < classes; ++t) {
    const std::string row = std::to_string(t);
    out << state.epoch + 1 << "," << row;
    for (int64_t p = 0; p < classes; ++p) out << "," << logs.at("val_confusion_matrix/" + row + "/" + std::to_string(p));
    out << "," << logs.at("val_precision/" + row) << "," << logs.at("val_recall/" + row) << "\n";
  }
  out.flush();  // as CsvLogger: a full disk shows here, not in the destructor's close, which reports nothing
  TESSERA_CHECK(out.good(), "ConfusionMatrixLogger: cannot write ", path_, ": ", std::strerror(errno));
}

// ---- Monitoring a log (EarlyStopping, ReduceLROnPlateau)

namespace {

// Whether higher values of `monitor` are better under `mode` ("min", "max" or "auto").
bool maximizes(const char* who, const std::string& mode, const std::string& monitor) {
  TESSERA_CHECK(mode == "auto" || mode == "min" || mode == "max", who, ": mode must be auto, min or max, got ", mode);
  return mode == "max" || (mode == "auto" && higher_is_better(monitor));
}

double worst(bool maximize) { return maximize ? -INFINITY : INFINITY; }

bool improves(bool maximize, double value, double best, double min_delta) {
  return maximize ? value > best + min_delta : value < best - min_delta;
}

double monitored(const char* who, const std::string& monitor, const Logs& logs) {
  auto it = logs.find(monitor);
  TESSERA_CHECK(it != logs.end(), who, ": the logs have no '", monitor,
                "' (fit needs validation data for val_* metrics)");
  return it->second;
}

// JSON has no infinity: "no best yet" is null.
nlohmann::json best_to_json(double best) { return std::isfinite(best) ? nlohmann::json(best) : nlohmann::json(nullptr); }
double best_from_json(const nlohmann::json& state, bool maximize) {
  return state.contains("best") && state["best"].is_number() ? state["best"].get<double>() : worst(maximize);
}

}  // namespace

// ---- EarlyStopping

EarlyStopping::EarlyStopping(EarlyStoppingOptions options)
    : options_(std::move(options)), maximize_(maximizes("EarlyStopping", options_.mode, options_.monitor)) {
  options_.min_delta = std::abs(options_.min_delta);  // Keras: min_delta = abs(min_delta); its sign follows mode
}

double EarlyStopping::initial_best() const { return worst(maximize_); }

void EarlyStopping::on_train_begin(TrainState&) {
  if (!restored_) {
    best_ = initial_best();
    wait_ = 0;
  }
  restored_ = false;
  stopped_epoch_ = -1;
}

nlohmann::json EarlyStopping::state() const {
  return {{"monitor", options_.monitor}, {"best", best_to_json(best_)}, {"wait", wait_}};
}

void EarlyStopping::load_state(const nlohmann::json& state) {
  if (!state.is_object() || state.value("monitor", std::string()) != options_.monitor) return;
  best_ = best_from_json(state, maximize_);
  wait_ = state.value("wait", int64_t(0));
  restored_ = true;
}

StateDict EarlyStopping::tensor_state() const {
  return options_.restore_best_weights ? best_weights_ : StateDict();
}

void EarlyStopping::load_tensor_state(const StateDict& tensors) {
  if (options_.restore_best_weights) best_weights_ = tensors;
}

void EarlyStopping::on_epoch_end(TrainState& state, const Logs& logs) {
  const double value = monitored("EarlyStopping", options_.monitor, logs);
  if (state.epoch < options_.start_from_epoch) return;  // Keras: a warm-up in which no improvement is expected
  if (improves(maximize_, value, best_, options_.min_delta)) {
    best_ = value;
    wait_ = 0;
    if (options_.restore_best_weights) {
      best_weights_ = StateDict();
      for (const auto& [name, tensor] : state.model->module().state_dict()) best_weights_.insert(name, tensor.clone());
    }
    return;
  }
  // Keras: stop once `patience` epochs in a row have not improved (patience 0 and 1 both stop at the first).
  if (++wait_ >= options_.patience) {
    state.stop_training = true;
    stopped_epoch_ = state.epoch;
  }
}

void EarlyStopping::on_train_end(TrainState& state, const Logs&) {
  if (stopped_epoch_ >= 0 && options_.restore_best_weights && !best_weights_.empty()) {
    state.model->module().load_state_dict(best_weights_);
  }
  if (stopped_epoch_ >= 0 && state.is_main) {
    std::printf("EarlyStopping: %s did not improve for %lld epochs; stopped after epoch %lld\n",
                options_.monitor.c_str(), (long long)wait_, (long long)(stopped_epoch_ + 1));
  }
}

// ---- ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(ReduceLROnPlateauOptions options)
    : options_(std::move(options)), maximize_(maximizes("ReduceLROnPlateau", options_.mode, options_.monitor)) {
  TESSERA_CHECK(options_.factor > 0 && options_.factor < 1, "ReduceLROnPlateau: factor must be in (0, 1), got ",
                options_.factor);
  TESSERA_CHECK(options_.patience >= 0 && options_.cooldown >= 0 && options_.min_delta >= 0 && options_.min_lr >= 0,
                "ReduceLROnPlateau: patience, cooldown, min_delta and min_lr must not be negative");
}

void ReduceLROnPlateau::on_train_begin(TrainState& state) {
  TESSERA_CHECK(state.model->scheduler() == nullptr, "ReduceLROnPlateau: the model has an LR schedule, which sets "
                "the rate every step and would undo each reduction; use one or the other");
  if (!restored_) {
    best_ = worst(maximize_);
    wait_ = cooldown_left_ = 0;
    lr_.reset();
  }
  restored_ = false;
  if (lr_) state.optimizer->set_lr(*lr_);
}

void ReduceLROnPlateau::on_epoch_end(TrainState& state, const Logs& logs) {
  const double value = monitored("ReduceLROnPlateau", options_.monitor, logs);
  // torch.optim.lr_scheduler.ReduceLROnPlateau.step, line by line.
  if (improves(maximize_, value, best_, options_.min_delta)) {
    best_ = value;
    wait_ = 0;
  } else {
    ++wait_;
  }
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    wait_ = 0;
  }
  if (wait_ <= options_.patience) return;
  const double old_lr = state.optimizer->lr();
  const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
  if (old_lr - new_lr > 1e-8) {  // PyTorch's eps: a reduction smaller than this is ignored
    state.optimizer->set_lr(new_lr);
    lr_ = new_lr;
    ++reductions_;
    if (state.is_main) std::printf("ReduceLROnPlateau: %s did not improve for %lld epochs; lr %g -> %g\n",
                                   options_.monitor.c_str(), (long long)wait_, old_lr, new_lr);
  }
  cooldown_left_ = options_.cooldown;
  wait_ = 0;
}

nlohmann::json ReduceLROnPlateau::state() const {
  return {{"monitor", options_.monitor}, {"best", best_to_json(best_)}, {"wait", wait_},
          {"cooldown", cooldown_left_}, {"lr", lr_ ? nlohmann::json(*lr_) : nlohmann::json(nullptr)}};
}

void ReduceLROnPlateau::load_state(const nlohmann::json& state) {
  if (!state.is_object() || state.value("monitor", std::string()) != options_.monitor) return;
  best_ = best_from_json(state, maximize_);
  wait_ = state.value("wait", int64_t(0));
  cooldown_left_ = state.value("cooldown", int64_t(0));
  lr_ = state.contains("lr") && state["lr"].is_number() ? std::optional<double>(state["lr"].get<double>()) : std::nullopt;
  restored_ = true;
}

// ---- TerminateOnNaN

void TerminateOnNaN::on_batch_end(TrainState& state, const Logs& logs) {
  auto it = logs.find("batch_loss");
  if (it == logs.end() || std::isfinite(it->second)) return;
  TESSERA_CHECK(!fail_, "training diverged at step ", state.step, " (epoch ", state.epoch + 1, "): the batch loss is ",
                it->second, "; stopped before any checkpoint of it was written");
  state.stop_training = true;
  terminated_ = true;
  if (state.is_main) log::warn("TerminateOnNaN: loss is {} at step {}; training stopped", it->second, state.step);
}

// ---- LearningRateScheduler

LearningRateScheduler::LearningRateScheduler(std::function<double(int64_t, double)> schedule)
    : schedule_(std::move(schedule)) {}

void LearningRateScheduler::on_train_begin(TrainState& state) {
  // As Keras, whose optimizer built with a LearningRateSchedule refuses a rate set from outside.
  TESSERA_CHECK(state.model->scheduler() == nullptr, "LearningRateScheduler: the model has an LR schedule, which "
                "sets the rate every step and would undo the callback's rate after the epoch's first step; use one "
                "or the other");
}

void LearningRateScheduler::on_epoch_begin(TrainState& state) {
  // An epoch continued from inside (fit after max_steps, a resume) already runs at its rate: a schedule of the
  // current rate (Keras's `lr * exp(-0.1)`) must not be applied to it twice.
  if (state.batch_in_epoch > 0) return;
  state.optimizer->set_lr(schedule_(state.epoch, state.optimizer->lr()));
}

}  // namespace tessera::model
