#include "core/amp/grad_scaler.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/backend_of.h"
#include "core/check.h"
#include "core/ops.h"

namespace tessera::amp {

namespace {
// A scale the device's f32 holds: positive and finite there (1e-50 would round to 0 and skip every step).
bool representable(double scale) {
  const auto f = static_cast<float>(scale);
  return f > 0.0f && std::isfinite(f);
}
}  // namespace

GradScaler::GradScaler(GradScalerOptions options) : options_(options), start_scale_(options.init_scale) {
  TESSERA_CHECK(representable(options_.init_scale), "GradScaler: init_scale must be a positive f32 number, got ",
                options_.init_scale);
  TESSERA_CHECK(options_.growth_factor > 1.0, "GradScaler: growth_factor must be above 1, got ",
                options_.growth_factor);
  TESSERA_CHECK(options_.backoff_factor > 0.0 && options_.backoff_factor < 1.0,
                "GradScaler: backoff_factor must be in (0, 1), got ", options_.backoff_factor);
  TESSERA_CHECK(options_.growth_interval > 0 && options_.growth_interval <= INT32_MAX,
                "GradScaler: growth_interval must be a positive 32-bit count, got ", options_.growth_interval);
}

void GradScaler::place_on(Device device) {
  if (scale_.defined() && scale_.device() == device) return;
  NoGradGuard no_grad;
  if (scale_.defined()) {  // the model moved: the state follows it
    scale_ = scale_.to(device);
    growth_tracker_ = growth_tracker_.to(device);
    found_inf_ = found_inf_.to(device);
    for (Tensor& other : other_found_inf_) other = other.to(device);
    return;
  }
  scale_ = full({}, start_scale_, {.dtype = DType::f32, .device = device});
  growth_tracker_ = full({}, static_cast<double>(start_growth_tracker_), {.dtype = DType::i32, .device = device});
  found_inf_ = zeros({}, {.dtype = DType::f32, .device = device});
}

Tensor GradScaler::scale(const Tensor& loss) {
  if (!options_.enabled) return loss;
  place_on(loss.device());
  scaled_ = true;
  return loss * scale_;
}

GradScaler::Progress& GradScaler::progress_of(const optim::Optimizer& optimizer) {
  auto [it, added] = progress_.try_emplace(&optimizer);
  if (added) {
    it->second.flag = progress_.size() - 1;
    if (it->second.flag > other_found_inf_.size()) {
      NoGradGuard no_grad;
      other_found_inf_.push_back(zeros({}, {.dtype = DType::f32, .device = scale_.device()}));
    }
  }
  return it->second;
}

const Tensor& GradScaler::flag(const Progress& progress) const {
  return progress.flag == 0 ? found_inf_ : other_found_inf_[progress.flag - 1];
}

void GradScaler::unscale_(optim::Optimizer& optimizer) {
  if (!options_.enabled) return;
  TESSERA_CHECK(scaled_, "GradScaler::unscale_: no scale(loss) since the last update(); the gradients were never "
                "multiplied by the scale (call scaler.scale(loss).backward())");
  Progress& progress = progress_of(optimizer);
  TESSERA_CHECK(!progress.unscaled, "GradScaler::unscale_: already called for this optimizer since the last "
                "update()");
  struct Group {
    DType dtype;
    std::vector<void*> grads;
    std::vector<int64_t> numels;
  };
  std::vector<Group> groups;
  const std::vector<Tensor>& params = optimizer.params();
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor g = params[i].grad();
    if (!g.defined()) continue;
    TESSERA_CHECK(g.device() == scale_.device(), "GradScaler::unscale_: the gradient of parameter ", i, " is on ",
                  g.device().str(), ", the scaled loss was on ", scale_.device().str());
    TESSERA_CHECK(g.dtype() == DType::f32 || g.dtype() == DType::f64, "GradScaler::unscale_: the gradient of "
                  "parameter ", i, " is ", dtype_name(g.dtype()), "; unscaling needs f32 or f64 gradients");
    if (!g.is_contiguous()) {  // unscaled in place by raw pointer
      g = g.contiguous();
      params[i].set_grad(g);
    }
    g.bump_version();
    auto group = std::find_if(groups.begin(), groups.end(), [&](const Group& gr) { return gr.dtype == g.dtype(); });
    if (group == groups.end()) group = groups.insert(groups.end(), Group{g.dtype(), {}, {}});
    group->grads.push_back(g.raw_data());
    group->numels.push_back(g.numel());
  }
  progress.unscaled = true;
  for (const Group& group : groups)
    backend_of(scale_.device())
        .unscale_gradients(group.dtype, group.grads.data(), group.numels.data(), group.grads.size(),
                           static_cast<const float*>(scale_.raw_data()),
                           static_cast<float*>(flag(progress).raw_data()));
}

void GradScaler::step(optim::Optimizer& optimizer) {
  if (!options_.enabled) {
    optimizer.step();
    return;
  }
  const auto known = progress_.find(&optimizer);
  if (known == progress_.end() || !known->second.unscaled) unscale_(optimizer);
  Progress& progress = progress_.at(&optimizer);
  TESSERA_CHECK(!progress.stepped, "GradScaler::step: called twice for this optimizer without update() in between");
  progress.stepped = true;
  optimizer.step_unless(flag(progress));
}

void GradScaler::update() {
  if (!options_.enabled) return;
  TESSERA_CHECK(std::any_of(progress_.begin(), progress_.end(), [](const auto& p) { return p.second.stepped; }),
                "GradScaler::update: call step(optimizer) first");
  NoGradGuard no_grad;
  for (size_t k = 0; k + 1 < progress_.size(); ++k) {  // any optimizer's inf backs the scale off (as PyTorch's sum)
    found_inf_.add_(other_found_inf_[k]);  // in place: no temporary per step, nothing allocated in a capture
    other_found_inf_[k].zero_();
  }
  backend_of(scale_.device())
        .update_loss_scale(static_cast<float*>(scale_.raw_data()), static_cast<int32_t*>(growth_tracker_.raw_data()),
                           static_cast<float*>(found_inf_.raw_data()),
                           {.growth_factor = options_.growth_factor, .backoff_factor = options_.backoff_factor,
                            .growth_interval = options_.growth_interval});
  progress_.clear();
  scaled_ = false;
}

bool GradScaler::found_inf() const {
  TESSERA_CHECK(std::any_of(progress_.begin(), progress_.end(), [](const auto& p) { return p.second.unscaled; }),
                "GradScaler::found_inf: known only between unscale_ (or step) and update()");
  return std::any_of(progress_.begin(), progress_.end(), [&](const auto& p) {
    return p.second.unscaled && flag(p.second).template item<float>() != 0.0f;
  });
}

double GradScaler::get_scale() const { return scale_.defined() ? scale_.item<double>() : start_scale_; }

int64_t GradScaler::growth_tracker() const {
  return growth_tracker_.defined() ? growth_tracker_.item<int64_t>() : start_growth_tracker_;
}

StateDict GradScaler::state_dict() const {
  StateDict out;
  out.insert("scale", host_scalar(get_scale(), DType::f64));
  out.insert("growth_tracker", host_scalar(static_cast<double>(growth_tracker()), DType::i64));
  return out;
}

void GradScaler::load_state_dict(const StateDict& state) {
  const Tensor* scale = state.find("scale");
  const Tensor* tracker = state.find("growth_tracker");
  TESSERA_CHECK(scale && scale->numel() == 1, "GradScaler::load_state_dict: missing \"scale\"");
  TESSERA_CHECK(tracker && tracker->numel() == 1, "GradScaler::load_state_dict: missing \"growth_tracker\"");
  const double value = scale->item<double>();
  TESSERA_CHECK(representable(value), "GradScaler::load_state_dict: invalid scale ", value);
  const int64_t count = tracker->item<int64_t>();
  TESSERA_CHECK(count >= 0 && count < options_.growth_interval, "GradScaler::load_state_dict: invalid "
                "growth_tracker ", count, " (growth_interval ", options_.growth_interval, ")");
  start_scale_ = value;
  start_growth_tracker_ = count;
  if (scale_.defined()) {
    NoGradGuard no_grad;
    scale_.fill_(value);
    growth_tracker_.fill_(static_cast<double>(count));
    found_inf_.zero_();
    for (Tensor& other : other_found_inf_) other.zero_();
  }
}

}  // namespace tessera::amp
