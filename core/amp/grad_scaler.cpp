#include "core/amp/grad_scaler.h"

#include <cmath>

#include "core/autograd/grad_mode.h"
#include "core/check.h"
#include "core/ops.h"

namespace tessera::amp {

GradScaler::GradScaler(GradScalerOptions options) : options_(options), scale_(options.init_scale) {
  TESSERA_CHECK(options_.init_scale > 0 && std::isfinite(options_.init_scale), "GradScaler: init_scale must be a "
                "positive number, got ", options_.init_scale);
  TESSERA_CHECK(options_.growth_factor > 1.0, "GradScaler: growth_factor must be above 1, got ",
                options_.growth_factor);
  TESSERA_CHECK(options_.backoff_factor > 0.0 && options_.backoff_factor < 1.0,
                "GradScaler: backoff_factor must be in (0, 1), got ", options_.backoff_factor);
  TESSERA_CHECK(options_.growth_interval > 0, "GradScaler: growth_interval must be positive, got ",
                options_.growth_interval);
}

Tensor GradScaler::scale(const Tensor& loss) const { return options_.enabled ? loss * scale_ : loss; }

void GradScaler::unscale_(optim::Optimizer& optimizer) {
  if (!options_.enabled) return;
  TESSERA_CHECK(!unscaled_, "GradScaler::unscale_: already called since the last update()");
  NoGradGuard no_grad;
  const double inverse = 1.0 / scale_;
  // x * 0 is 0 for finite x and NaN for inf or NaN: a sum of them is NaN exactly when some gradient is not finite.
  Tensor poison;
  for (const Tensor& p : optimizer.params()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    g.mul_(inverse);
    const Tensor part = (g * 0.0).sum().to(DType::f64);
    poison = poison.defined() ? poison + part : part;
  }
  found_inf_ = poison.defined() && std::isnan(poison.item<double>());
  unscaled_ = true;
}

bool GradScaler::step(optim::Optimizer& optimizer) {
  if (!options_.enabled) {
    optimizer.step();
    return true;
  }
  TESSERA_CHECK(!stepped_, "GradScaler::step: called twice without update() in between");
  if (!unscaled_) unscale_(optimizer);
  stepped_ = true;
  if (found_inf_) return false;
  optimizer.step();
  return true;
}

void GradScaler::update() {
  if (!options_.enabled) return;
  TESSERA_CHECK(stepped_, "GradScaler::update: call step(optimizer) first");
  if (found_inf_) {
    scale_ *= options_.backoff_factor;
    growth_tracker_ = 0;
  } else if (++growth_tracker_ == options_.growth_interval) {
    scale_ *= options_.growth_factor;
    growth_tracker_ = 0;
  }
  unscaled_ = found_inf_ = stepped_ = false;
}

StateDict GradScaler::state_dict() const {
  StateDict out;
  out.insert("scale", host_scalar(scale_, DType::f64));
  out.insert("growth_tracker", host_scalar(static_cast<double>(growth_tracker_), DType::i64));
  return out;
}

void GradScaler::load_state_dict(const StateDict& state) {
  const Tensor* scale = state.find("scale");
  const Tensor* tracker = state.find("growth_tracker");
  TESSERA_CHECK(scale && scale->numel() == 1, "GradScaler::load_state_dict: missing \"scale\"");
  TESSERA_CHECK(tracker && tracker->numel() == 1, "GradScaler::load_state_dict: missing \"growth_tracker\"");
  const double value = scale->item<double>();
  TESSERA_CHECK(value > 0 && std::isfinite(value), "GradScaler::load_state_dict: invalid scale ", value);
  scale_ = value;
  growth_tracker_ = tracker->item<int64_t>();
}

}  // namespace tessera::amp
