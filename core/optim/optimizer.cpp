#include "core/optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/amp/cast_cache.h"
#include "core/autograd/grad_mode.h"
#include "core/backend_of.h"
#include "core/graph.h"
#include "core/ops/factory.h"

namespace tessera::optim {

namespace {
std::string state_key(size_t index, const std::string& name) { return "state." + std::to_string(index) + "." + name; }
}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params, double lr) : params_(std::move(params)), lr_(lr) {
  TESSERA_CHECK(lr >= 0.0, "optimizer: invalid learning rate ", lr);
  std::unordered_map<const TensorImpl*, size_t> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    TESSERA_CHECK(params_[i].defined(), "optimizer: parameter ", i, " is undefined");
    const auto [it, inserted] = seen.emplace(params_[i].impl(), i);
    TESSERA_CHECK(inserted, "optimizer: parameter ", i, " is the same tensor as parameter ", it->second,
                  "; pass each parameter once");
  }
  state_.resize(params_.size());
}

void Optimizer::set_lr(double lr) {
  TESSERA_CHECK(lr >= 0.0, name(), ": invalid learning rate ", lr);
  lr_ = lr;
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (const Tensor& p : params_) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) p.set_grad(Tensor());
    else g.zero_();
  }
}

int64_t Optimizer::step_count(size_t index) const {
  TESSERA_CHECK(index < state_.size(), name(), ": parameter index ", index, " out of range for ", state_.size(),
                " parameters");
  counts_to_host();
  return state_[index].step;
}

void Optimizer::step_unless(const Tensor& found_inf) {
  TESSERA_CHECK(found_inf.defined() && found_inf.numel() == 1 && found_inf.dtype() == DType::f32, name(),
                ".step_unless: the flag must be one f32 element, got ",
                found_inf.defined() ? dtype_name(found_inf.dtype()) + std::string(" ") + shape_str(found_inf.shape())
                                    : std::string("an undefined tensor"));
  found_inf_ = found_inf;
  try {
    step();
  } catch (...) {
    found_inf_ = Tensor();
    throw;
  }
  found_inf_ = Tensor();
}

const Tensor* Optimizer::counts_buffer(Device device) const {
  const auto steps = std::find_if(device_steps_.begin(), device_steps_.end(),
                                  [&](const Tensor& t) { return t.device() == device; });
  return steps == device_steps_.end() ? nullptr : &*steps;
}

int64_t* Optimizer::device_count(Device device, size_t i) {
  const Tensor* steps = counts_buffer(device);
  if (steps == nullptr)
    steps = &device_steps_.emplace_back(
        empty({static_cast<int64_t>(state_.size())}, {.dtype = DType::i64, .device = device}));
  return static_cast<int64_t*>(steps->raw_data()) + i;
}

void Optimizer::place_counts(bool on_device, Device device) {
  if (on_device) {
    counts_to_device(device);
  } else {  // a plain step counts on the host; a later step_unless copies the counts to the device again
    counts_to_host();
    counts_device_.reset();
  }
}

void Optimizer::counts_to_device(Device device) {
  if (counts_device_ == device) return;
  TESSERA_CHECK(DeviceGraph::capturing() == nullptr, name(), ".step_unless captured in a graph on ", device.str(),
                ", but the step counts are not there: run an eager step_unless there first, after any step() or "
                "load_state_dict (it moves the counts to the device outside the capture)");
  counts_to_host();  // from another device
  std::vector<int64_t> counts(state_.size());
  for (size_t i = 0; i < state_.size(); ++i) counts[i] = state_[i].step;
  backend_of(device).copy_from_host(device_count(device, 0), counts.data(), counts.size() * sizeof(int64_t));
  counts_device_ = device;
}

void Optimizer::counts_to_host() const {
  if (host_counts_exact_) return;
  const Device device = *counts_device_;
  TESSERA_CHECK(DeviceGraph::capturing() == nullptr, name(), ": the step counts of the step_unless steps before "
                "this capture are on ", device.str(), "; a step() captured now needs them on the host: read "
                "step_count() before capturing");
  counts_written_->synchronize();  // the last step_unless, on whichever stream it ran
  std::vector<int64_t> counts(state_.size());
  backend_of(device).copy_to_host(counts.data(), counts_buffer(device)->raw_data(), counts.size() * sizeof(int64_t));
  for (size_t i = 0; i < state_.size(); ++i) state_[i].step = counts[i];
  host_counts_exact_ = true;
}

void Optimizer::counts_written(Device device) {
  if (!counts_written_ || counts_written_->device() != device) counts_written_.emplace(device);
  counts_written_->record();
  host_counts_exact_ = false;
}

void Optimizer::check_param(size_t index) const {
  const Tensor& p = params_[index];
  TESSERA_CHECK(p.is_contiguous() && (p.dtype() == DType::f32 || p.dtype() == DType::f64), name(),
                ".step: parameter ", index, " of shape ", shape_str(p.shape()), " must be a contiguous f32 or f64 "
                "tensor (got ", dtype_name(p.dtype()), p.is_contiguous() ? "" : ", non-contiguous", ")");
}

void Optimizer::fused_step(const SlotFn& slot_of, const RunFn& run) {
  NoGradGuard no_grad;
  if (params_.empty()) return;
  const bool skippable = found_inf_.defined();
  if (skippable) {
    for (size_t i = 0; i < params_.size(); ++i)
      TESSERA_CHECK(!params_[i].grad().defined() || params_[i].device() == found_inf_.device(), name(),
                    ".step_unless: the flag is on ", found_inf_.device().str(), ", parameter ", i, " on ",
                    params_[i].device().str());
  }
  place_counts(skippable, skippable ? found_inf_.device() : Device());
  struct Group {
    Device device;
    DType dtype;
    std::vector<kernels::OptimizerSlot> slots;
    std::vector<size_t> indices;    // the parameter of each slot
    std::vector<size_t> with_copy;  // those whose autocast copy the step rewrites
  };
  std::vector<Group> groups;
  std::vector<Tensor> grads;  // keeps converted gradients alive until the backend has run
  DeviceGraph* graph = DeviceGraph::capturing();
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    check_param(i);
    TESSERA_CHECK(g.shape() == p.shape(), name(), ".step: gradient of shape ", shape_str(g.shape()),
                  " for parameter ", i, " of shape ", shape_str(p.shape()));
    TESSERA_CHECK(g.device() == p.device(), name(), ".step: gradient on ", g.device().str(), " for parameter ", i,
                  " on ", p.device().str());
    g = g.to(p.dtype()).contiguous();
    grads.push_back(g);
    const int64_t t = state_[i].step + 1;  // counted once every check has passed (below)
    if (graph == nullptr) {
      // Ready for a later capture of this step (the first eager step on the device makes it, outside any capture).
      if (!p.device().is_cpu() && (!graph_scalars_.defined() || graph_scalars_.device() != p.device()))
        graph_scalars_ = empty({kernels::StepScalars::kCount}, {.dtype = DType::f64, .device = p.device()});
    } else {  // the replay hook counts the step
      TESSERA_CHECK(p.device() == graph->device(), name(), ".step: parameter ", i, " is on ", p.device().str(),
                    ", the graph being captured on ", graph->device().str());
      // A plain step takes its first-step flags from the host's count, fixed in the graph: it must be past them.
      TESSERA_CHECK(skippable || state_[i].step > 0, name(), ".step captured in a graph before parameter ", i,
                    " had an eager step that counted: its first step would be replayed every time; run at least one "
                    "step before capturing");
    }
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const Group& gr) { return gr.device == p.device() && gr.dtype == p.dtype(); });
    if (group == groups.end()) group = groups.insert(groups.end(), Group{p.device(), p.dtype(), {}});
    const size_t state_count = state_[i].tensors.size();
    kernels::OptimizerSlot slot = slot_of(i, t, p, g);
    TESSERA_CHECK(graph == nullptr || state_[i].tensors.size() == state_count, name(), ".step captured in a graph "
                  "before parameter ", i, " had an eager step: its state would be created inside the graph (and reset "
                  "by every replay); run at least one step before capturing");
    if (skippable) {  // the device's count says whether this is a first step; the host only knows of new state
      slot.step = device_count(p.device(), i);
      slot.first_step = state_[i].tensors.size() != state_count;
    }
    if (const Tensor copy = amp::current_copy(p); copy.defined()) {
      slot.low_precision = copy.raw_data();
      slot.low_precision_dtype = copy.dtype();
      group->with_copy.push_back(i);
    }
    group->slots.push_back(slot);
    group->indices.push_back(i);
  }
  if (groups.empty()) return;
  // The parameters of the first `count` groups: (all, those with an autocast copy).
  const auto params_of = [&](size_t count) {
    std::pair<std::vector<size_t>, std::vector<size_t>> out;
    for (size_t k = 0; k < count; ++k) {
      out.first.insert(out.first.end(), groups[k].indices.begin(), groups[k].indices.end());
      out.second.insert(out.second.end(), groups[k].with_copy.begin(), groups[k].with_copy.end());
    }
    return out;
  };
  const auto [updated, with_copy] = params_of(groups.size());
  kernels::StepScalars scalars = graph ? capture_step(*graph, updated, with_copy, skippable) : kernels::StepScalars{};
  if (skippable) scalars.found_inf = static_cast<const float*>(found_inf_.raw_data());
  const bool counted_on_device = skippable && graph == nullptr;  // a replay's after-replay hook does it then
  if (counted_on_device)
    for (size_t i : updated) ++state_[i].step;  // provisional: the device's count decides
  // The groups whose kernels ran (all, unless one threw) are finished as an eager step finishes: their parameters
  // counted (a plain step counts on the host), versions bumped, autocast copies marked current. A group that threw
  // keeps its counts, like its parameters, so the next step is still its first where this one would have been.
  size_t ran = 0;
  const auto finish = [&] {
    const auto [done, done_with_copy] = params_of(ran);
    if (graph == nullptr && !skippable)
      for (size_t i : done) ++state_[i].step;
    if (counted_on_device) counts_written(found_inf_.device());  // also after a throw: read the device's back
    after_update(done, done_with_copy);
  };
  try {
    for (; ran < groups.size(); ++ran)
      run(backend_of(groups[ran].device), groups[ran].dtype, groups[ran].slots.data(), groups[ran].slots.size(),
          scalars);
  } catch (...) {
    finish();
    throw;
  }
  finish();
}

void Optimizer::after_update(const std::vector<size_t>& updated, const std::vector<size_t>& with_copy) {
  for (size_t i : updated) params_[i].bump_version();
  for (size_t i : with_copy) amp::mark_current(params_[i]);
}

kernels::StepScalars Optimizer::capture_step(DeviceGraph& graph, const std::vector<size_t>& updated,
                                             const std::vector<size_t>& with_copy, bool skippable) {
  const Device device = graph.device();
  // Made by an eager step, not here: memory allocated inside the capture may be a block the captured step used and
  // freed before this point, which every replay would overwrite after the hook wrote the scalars (optimizer.h).
  TESSERA_CHECK(graph_scalars_.defined() && graph_scalars_.device() == device, name(),
                ".step captured in a graph on ", device.str(), ", but its last eager step ran on ",
                graph_scalars_.defined() ? graph_scalars_.device().str() : std::string("no device"),
                "; run an eager step on ", device.str(), " before capturing");
  if (std::find(hooked_captures_.begin(), hooked_captures_.end(), graph.capture_id()) == hooked_captures_.end()) {
    hooked_captures_.push_back(graph.capture_id());
    graph.add_replay_hook([this, updated, skippable, device, scalars = graph_scalars_] {
      place_counts(skippable, device);  // skippable: the counts the captured kernels advance
      for (size_t i : updated) ++state_[i].step;
      if (skippable) host_counts_exact_ = false;  // also if the replay fails: the device's counts decide
      const int64_t t = state_[updated.front()].step;
      for (size_t i : updated)  // counts on the device are per parameter; the host's scalars are for one count
        TESSERA_CHECK(skippable || state_[i].step == t, name(), ": a graph replays one step for parameters at "
                      "different step counts (parameter ", i, " at ", state_[i].step, ", parameter ", updated.front(),
                      " at ", t, "); the device holds one set of bias corrections");
      const std::array<double, kernels::StepScalars::kCount> values = step_scalars(t);
      backend_of(scalars.device()).copy_from_host(scalars.raw_data(), values.data(), sizeof(values));
    });
    graph.add_after_replay_hook([this, updated, with_copy, skippable, device] {
      after_update(updated, with_copy);
      if (skippable) counts_written(device);
    });
  }
  return {.device = static_cast<const double*>(graph_scalars_.raw_data())};
}

Tensor Optimizer::state_tensor(size_t index, const std::string& name, bool* created) {
  auto& tensors = state_[index].tensors;
  for (auto& [n, t] : tensors)
    if (n == name) {
      TESSERA_CHECK(t.device() == params_[index].device(), this->name(), ": state \"", name, "\" of parameter ",
                    index, " is on ", t.device().str(), ", the parameter on ", params_[index].device().str());
      if (created) *created = false;
      return t;
    }
  Tensor t = zeros_like(params_[index]);
  tensors.emplace_back(name, t);
  if (created) *created = true;
  return t;
}

StateDict Optimizer::state_dict() const {
  counts_to_host();
  StateDict out;
  out.insert("optimizer." + name(), host_scalar(static_cast<double>(params_.size()), DType::i64));
  out.insert("options.lr", host_scalar(lr_, DType::f64));
  for (const auto& [key, value] : options_list()) out.insert("options." + key, host_scalar(value, DType::f64));
  for (size_t i = 0; i < state_.size(); ++i) {
    if (state_[i].step == 0) continue;  // no state, or only the zeros of skipped steps (optimizer.h)
    out.insert(state_key(i, "step"), host_scalar(static_cast<double>(state_[i].step), DType::i64));
    for (const auto& [n, t] : state_[i].tensors) out.insert(state_key(i, n), t.detach());
  }
  return out;
}

void Optimizer::load_state_dict(const StateDict& state) {
  counts_to_host();  // the last step_unless has passed: the device's buffer may be rewritten
  const std::string what = name() + ".load_state_dict";
  const std::string marker = "optimizer." + name();
  const Tensor* count = state.find(marker);
  if (count == nullptr) {
    std::string found;
    for (const auto& [key, value] : state)
      if (key.rfind("optimizer.", 0) == 0) found = key.substr(10);
    TESSERA_THROW(what, ": the state dict is not from a ", name(), " optimizer",
                  found.empty() ? std::string(" (no \"optimizer.*\" key)") : " (it is from " + found + ")");
  }
  const int64_t n = count->item<int64_t>();
  TESSERA_CHECK(n == static_cast<int64_t>(params_.size()), what, ": the state dict holds ", n,
                " parameters, this optimizer has ", params_.size());

  // Validate everything before changing anything.
  std::vector<std::pair<std::string, double>> options{{"lr", 0.0}};
  for (const auto& option : options_list()) options.push_back(option);
  for (auto& [key, value] : options) {
    const Tensor* t = state.find("options." + key);
    TESSERA_CHECK(t != nullptr && t->numel() == 1, what, ": missing hyper-parameter \"options.", key, "\"");
    value = t->item<double>();
  }
  const std::vector<std::string> names = state_names();
  std::vector<ParamState> loaded(params_.size());
  for (const auto& [key, value] : state) {
    if (key == marker) continue;
    if (key.rfind("options.", 0) == 0) {
      const std::string option = key.substr(8);
      const bool known = std::any_of(options.begin(), options.end(), [&](const auto& o) { return o.first == option; });
      TESSERA_CHECK(known, what, ": unexpected hyper-parameter \"", key, "\"");
      continue;
    }
    TESSERA_CHECK(key.rfind("state.", 0) == 0, what, ": unexpected key \"", key, "\"");
    const size_t dot = key.find('.', 6);
    TESSERA_CHECK(dot != std::string::npos, what, ": malformed key \"", key, "\"");
    size_t index = 0;
    try {
      index = std::stoul(key.substr(6, dot - 6));
    } catch (const std::exception&) {
      TESSERA_THROW(what, ": malformed key \"", key, "\"");
    }
    TESSERA_CHECK(index < params_.size(), what, ": key \"", key, "\" refers to parameter ", index, " of ",
                  params_.size());
    const std::string tensor_name = key.substr(dot + 1);
    if (tensor_name == "step") {
      TESSERA_CHECK(value.numel() == 1, what, ": \"", key, "\" must be a scalar");
      loaded[index].step = value.item<int64_t>();
      continue;
    }
    TESSERA_CHECK(std::find(names.begin(), names.end(), tensor_name) != names.end(), what, ": unexpected key \"", key,
                  "\" (", name(), " keeps no \"", tensor_name, "\" state)");
    const Tensor& p = params_[index];
    TESSERA_CHECK(value.shape() == p.shape(), what, ": \"", key, "\" has shape ", shape_str(value.shape()),
                  ", parameter ", index, " has shape ", shape_str(p.shape()));
    // On the parameter's device: a checkpoint loads on the host, and a fused step passes state beside parameters.
    loaded[index].tensors.emplace_back(tensor_name, value.detach().to(p.dtype()).to(p.device()).clone());
  }
  for (size_t i = 0; i < loaded.size(); ++i) {
    auto& tensors = loaded[i].tensors;
    // state_dict() writes state only for parameters that took a step (their count comes with it).
    TESSERA_CHECK(tensors.empty() || loaded[i].step > 0, what, ": \"", state_key(i, tensors.front().first),
                  "\" comes without a positive \"", state_key(i, "step"), "\" (got ", loaded[i].step, ")");
    // Keep the order of state_names(), so a later state_dict lists keys as the original did.
    std::sort(tensors.begin(), tensors.end(), [&](const auto& a, const auto& b) {
      return std::find(names.begin(), names.end(), a.first) < std::find(names.begin(), names.end(), b.first);
    });
  }

  TESSERA_CHECK(options[0].second >= 0.0, what, ": invalid learning rate ", options[0].second);
  set_options({options.begin() + 1, options.end()});  // validated as a whole; throws before changing anything
  lr_ = options[0].second;
  state_ = std::move(loaded);
  counts_device_.reset();
}

}  // namespace tessera::optim
