#include "core/optim/lr_scheduler.h"

#include <cmath>

#include "core/ops/factory.h"

namespace tessera::optim {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer), base_lr_(optimizer.lr()) {}

void LRScheduler::initialize() { apply(); }

void LRScheduler::apply() {
  last_lr_ = lr_at(last_epoch_);
  optimizer_.set_lr(last_lr_);
}

void LRScheduler::step() {
  ++last_epoch_;
  apply();
}

StateDict LRScheduler::state_dict() const {
  StateDict out;
  out.insert("scheduler." + name(), host_scalar(1.0, DType::i64));
  out.insert("last_epoch", host_scalar(static_cast<double>(last_epoch_), DType::i64));
  out.insert("base_lr", host_scalar(base_lr_, DType::f64));
  return out;
}

void LRScheduler::load_state_dict(const StateDict& state) {
  const std::string what = name() + ".load_state_dict";
  TESSERA_CHECK(state.contains("scheduler." + name()), what, ": the state dict is not from a ", name(), " scheduler");
  for (const auto& [key, value] : state)
    TESSERA_CHECK(key == "scheduler." + name() || key == "last_epoch" || key == "base_lr", what, ": unexpected key \"",
                  key, "\"");
  const Tensor* epoch = state.find("last_epoch");
  const Tensor* base = state.find("base_lr");
  TESSERA_CHECK(epoch != nullptr && base != nullptr, what, ": missing \"last_epoch\" or \"base_lr\"");
  last_epoch_ = epoch->item<int64_t>();
  base_lr_ = base->item<double>();
  apply();
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  TESSERA_CHECK(step_size > 0, "StepLR: step_size (", step_size, ") must be positive");
  initialize();
}

double StepLR::lr_at(int64_t epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

WarmupCosineLR::WarmupCosineLR(Optimizer& optimizer, WarmupCosineOptions options)
    : LRScheduler(optimizer), options_(options) {
  TESSERA_CHECK(options.warmup_steps >= 0 && options.total_steps > 0, "WarmupCosineLR: need warmup_steps >= 0 (got ",
                options.warmup_steps, ") and total_steps > 0 (got ", options.total_steps, ")");
  TESSERA_CHECK(options.min_lr >= 0.0, "WarmupCosineLR: invalid min_lr ", options.min_lr);
  initialize();
}

double WarmupCosineLR::lr_at(int64_t epoch) const {
  const WarmupCosineOptions& o = options_;
  if (epoch < o.warmup_steps)
    return base_lr() * static_cast<double>(epoch + 1) / static_cast<double>(o.warmup_steps);
  if (epoch >= o.total_steps) return o.min_lr;
  const double progress =
      static_cast<double>(epoch - o.warmup_steps) / static_cast<double>(o.total_steps - o.warmup_steps);
  return o.min_lr + (base_lr() - o.min_lr) * (1.0 + std::cos(M_PI * progress)) / 2.0;
}

}  // namespace tessera::optim
