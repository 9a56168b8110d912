#include "io/training/model_checkpoint.h"

#include <cmath>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "core/check.h"
#include "core/generator.h"
#include "core/ops/factory.h"

namespace tessera::io {

namespace {

// JSON has no NaN or infinity (nlohmann writes null for them): a diverged epoch's sums keep them as strings.
nlohmann::json json_doubles(const std::vector<double>& values) {
  nlohmann::json list = nlohmann::json::array();
  for (double value : values) {
    list.push_back(std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(std::to_string(value)));
  }
  return list;
}

std::vector<double> doubles_of_json(const nlohmann::json& list) {
  std::vector<double> values;
  for (const auto& value : list) {
    values.push_back(value.is_string() ? std::stod(value.get<std::string>()) : value.get<double>());
  }
  return values;
}

// A snapshot in host memory, where HDF5 writes from anyway. A clone on the device would need the size of the model
// and its optimizer state again in GPU memory at every checkpoint (a run near its memory limit then fails with out
// of memory at its first checkpoint, after an epoch of training), kept in the caching allocator afterwards, and
// each save would read every tensor back twice (the non-finite check, then the copy for HDF5).
// A save that writes at once (ModelCheckpoint) shares CPU tensors instead: a clone would hold the model and its
// optimizer state in host memory a second time while the file is built.
enum class HostTensors { copy, share };

Tensor host_snapshot(const Tensor& tensor, HostTensors host_tensors) {
  const Tensor t = tensor.detach();
  if (!t.device().is_cpu()) return t.to(Device());
  return host_tensors == HostTensors::copy ? t.clone() : t;
}

Checkpoint capture(const model::Model& model, const model::BatchSource* train, const nlohmann::json& extra_meta,
                   const Callbacks& callbacks, HostTensors host_tensors) {
  const auto snapshot = [host_tensors](const Tensor& t) { return host_snapshot(t, host_tensors); };
  Checkpoint checkpoint;
  for (const auto& [name, tensor] : model.module().state_dict()) checkpoint.model.insert(name, snapshot(tensor));
  for (const auto& [name, tensor] : model.optimizer().state_dict())
    checkpoint.optimizer.insert(name, snapshot(tensor));
  if (model.scheduler()) checkpoint.scheduler = model.scheduler()->state_dict();
  checkpoint.step = model.step();
  checkpoint.epoch = model.epoch();
  checkpoint.world_size = model.parallel().size();
  checkpoint.meta = extra_meta;
  checkpoint.meta["train"] = train ? train->state() : nlohmann::json(nullptr);
  checkpoint.meta["epoch_sums"] = json_doubles(model.epoch_sums());
  checkpoint.meta["rng"] = default_generator().get_state();
  // f16 training's loss scaler (1 and 0 without scaling).
  const amp::GradScaler* scaler = model.grad_scaler();
  checkpoint.meta["loss_scale"] = scaler ? scaler->get_scale() : 1.0;
  checkpoint.meta["loss_scale_growth_tracker"] = scaler ? scaler->growth_tracker() : 0;
  checkpoint.meta["loss_scaling"] = scaler != nullptr;  // whether the two above are a scaler's state
  nlohmann::json states = nlohmann::json::object();
  for (const auto& callback : callbacks) {
    const std::string key = callback->state_key();
    if (key.empty()) continue;
    states[key] = callback->state();
    for (const auto& [name, tensor] : callback->tensor_state())
      checkpoint.callbacks.insert(key + "." + name, snapshot(tensor));
  }
  if (!states.empty()) checkpoint.meta["callbacks"] = states;
  return checkpoint;
}

}  // namespace

Checkpoint capture_checkpoint(const model::Model& model, const model::BatchSource* train,
                              const nlohmann::json& extra_meta, const Callbacks& callbacks) {
  return capture(model, train, extra_meta, callbacks, HostTensors::copy);
}

void restore_checkpoint(model::Model& model, model::BatchSource* train, const Checkpoint& checkpoint,
                        const Callbacks& callbacks) {
  const nlohmann::json& states = checkpoint.meta.value("callbacks", nlohmann::json::object());
  for (const auto& callback : callbacks) {
    const std::string key = callback->state_key();
    if (key.empty()) continue;
    if (states.contains(key)) callback->load_state(states[key]);
    StateDict tensors;
    const std::string prefix = key + ".";
    for (const auto& [name, tensor] : checkpoint.callbacks) {
      if (name.rfind(prefix, 0) == 0) tensors.insert(name.substr(prefix.size()), tensor);
    }
    if (!tensors.empty()) callback->load_tensor_state(tensors);
  }
  model.module().load_state_dict(checkpoint.model);
  model.optimizer().load_state_dict(checkpoint.optimizer);
  if (!checkpoint.scheduler.empty()) model.set_pending_scheduler_state(checkpoint.scheduler);
  model.set_progress(checkpoint.step, checkpoint.epoch);
  // Only a checkpoint written under loss scaling holds a scale to go on from. An f32 or bf16 run records 1 and 0,
  // which restored into an f16 run (precision changed on resume) would start it at scale 1 instead of GradScaler's
  // 65536, and grow it back only by doubling every 2000 good steps. Files older than "loss_scaling": a scaler's state
  // unless it is exactly that "none" pair.
  const nlohmann::json& meta = checkpoint.meta;
  const bool scaled = meta.contains("loss_scaling")
                          ? meta["loss_scaling"].get<bool>()
                          : meta.contains("loss_scale") && (meta["loss_scale"].get<double>() != 1.0 ||
                                                            meta.value("loss_scale_growth_tracker", 0.0) != 0.0);
  if (amp::GradScaler* scaler = model.grad_scaler(); scaler && scaled && meta.contains("loss_scale")) {
    StateDict state;
    state.insert("scale", host_scalar(checkpoint.meta["loss_scale"].get<double>(), DType::f64));
    state.insert("growth_tracker",
                 host_scalar(checkpoint.meta.value("loss_scale_growth_tracker", 0.0), DType::i64));
    scaler->load_state_dict(state);
  }
  if (checkpoint.meta.contains("rng")) default_generator().set_state(checkpoint.meta["rng"].get<std::string>());
  const nlohmann::json& position = checkpoint.meta.value("train", nlohmann::json(nullptr));
  if (!train || position.is_null()) return;
  const bool inside_epoch = position.value("epoch", checkpoint.epoch) == checkpoint.epoch &&
                            position.value("position", int64_t(0)) > 0;
  if (inside_epoch) {
    TESSERA_CHECK(checkpoint.world_size == model.parallel().size(), "the checkpoint was taken inside epoch ",
                  checkpoint.epoch + 1, " at world size ", checkpoint.world_size, "; resume it with ",
                  checkpoint.world_size,
                  " ranks (at another world size only checkpoints from the end of an epoch can be resumed)");
    train->load_state(position);
    if (checkpoint.meta.contains("epoch_sums")) model.set_epoch_sums(doubles_of_json(checkpoint.meta["epoch_sums"]));
  } else {
    // At an epoch boundary the next epoch starts afresh, at the same or another world size, batch size or set of
    // files. The source's own position is not loaded: a run's last checkpoint records (epoch, its last batch), which
    // a source checks against its layout as if the checkpoint were inside that epoch.
    nlohmann::json start = position;
    start["epoch"] = checkpoint.epoch;
    start["position"] = 0;
    train->load_state(start);
  }
}

ModelCheckpoint::ModelCheckpoint(ModelCheckpointOptions options, const model::BatchSource* train)
    : options_(std::move(options)), train_(train) {
  TESSERA_CHECK(!options_.dir.empty(), "ModelCheckpoint: no directory given");
  TESSERA_CHECK(options_.every_steps >= 0, "ModelCheckpoint: every_steps must not be negative, got ",
                options_.every_steps);
}

void ModelCheckpoint::on_batch_end(model::TrainState& state, const model::Logs&) {
  if (!state.is_main || !state.reached_multiple_of(options_.every_steps)) return;
  if (state.batch_in_epoch == state.batches_per_epoch) return;  // the epoch's end saves this step
  marked_write(state, /*also_best=*/false);
}

void ModelCheckpoint::on_epoch_end(model::TrainState& state, const model::Logs& logs) {
  if (!state.is_main) return;
  // Decide on best.h5 first, so the checkpoints written now carry the updated best score.
  bool improved = false;
  if (!options_.monitor.empty()) {
    auto it = logs.find(options_.monitor);
    const bool maximize = model::higher_is_better(options_.monitor);
    improved = it != logs.end() && std::isfinite(it->second) &&
               (!best_ || (maximize ? it->second > *best_ : it->second < *best_));
    if (improved) best_ = it->second;
  }
  marked_write(state, improved);
}

std::string ModelCheckpoint::save(model::TrainState& state) {
  if (!state.is_main) return "";
  marked_write(state, /*also_best=*/false);
  return last_path_;
}

void ModelCheckpoint::marked_write(model::TrainState& state, bool also_best) {
  if (options_.mark) options_.mark(model::phase::checkpoint);
  write(state, also_best);
  if (options_.mark) options_.mark("callbacks");
}

void ModelCheckpoint::write(model::TrainState& state, bool also_best) {
  std::error_code error;
  std::filesystem::create_directories(options_.dir, error);  // best.h5 may be the first file written
  TESSERA_CHECK(!error, "cannot create checkpoint directory ", options_.dir, ": ", error.message());
  for (const auto& path : options_.set_aside) {
    std::filesystem::rename(path, path + ".corrupt", error);
    TESSERA_CHECK(!error, "cannot set aside the corrupt checkpoint ", path, ": ", error.message());
  }
  options_.set_aside.clear();
  const Checkpoint checkpoint = capture(*state.model, train_, options_.extra_meta,
                                        state.callbacks ? *state.callbacks : Callbacks{}, HostTensors::share);
  // best.h5 first: a write that fails (full disk) or a kill between the two files must not leave a numbered
  // checkpoint recording a best score that best.h5 does not hold, or a run resumed from it would never write that
  // epoch's best.h5. This way round the resumed run retrains the epoch and writes best.h5 again, identically.
  last_path_ = save_numbered_checkpoint(options_.dir, checkpoint, options_.keep, options_.write, also_best);
}

nlohmann::json ModelCheckpoint::state() const {
  return {{"monitor", options_.monitor}, {"best", best_ ? nlohmann::json(*best_) : nlohmann::json(nullptr)}};
}

void ModelCheckpoint::load_state(const nlohmann::json& state) {
  if (!state.is_object() || state.value("monitor", std::string()) != options_.monitor) return;
  best_ = state.contains("best") && state["best"].is_number() ? std::optional<double>(state["best"].get<double>())
                                                              : std::nullopt;
}

}  // namespace tessera::io
