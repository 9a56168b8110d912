#pragma once
// Learning-rate schedules. A scheduler owns an epoch counter (PyTorch's last_epoch): construction sets the
// optimizer's lr to the schedule's value at 0, and each step() advances the counter and sets the value there.
// Schedules are closed-form functions of the counter and the optimizer's lr at construction (base_lr), so a
// restored state_dict continues exactly.
#include <string>

#include "core/nn/state_dict.h"
#include "core/optim/optimizer.h"

namespace tessera::optim {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  void step();
  double last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  double base_lr() const { return base_lr_; }
  // The schedule's lr at `epoch` (no side effects).
  virtual double lr_at(int64_t epoch) const = 0;
  virtual std::string name() const = 0;

  // Keys: "scheduler.<Name>" (i64 scalar 1), "last_epoch" (i64), "base_lr" (f64).
  StateDict state_dict() const;
  // Restores the counter and base lr (error when the state is from another kind of scheduler) and sets the
  // optimizer's lr to the schedule's value there.
  void load_state_dict(const StateDict& state);

 protected:
  // Derived constructors call this once their parameters are set: sets the lr for epoch 0.
  void initialize();

 private:
  void apply();
  Optimizer& optimizer_;
  double base_lr_;
  int64_t last_epoch_ = 0;
  double last_lr_ = 0.0;
};

// lr = base_lr * gamma ^ floor(epoch / step_size)  (torch.optim.lr_scheduler.StepLR).
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t epoch) const override;
  std::string name() const override { return "StepLR"; }

 private:
  int64_t step_size_;
  double gamma_;
};

struct WarmupCosineOptions {
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;
  double min_lr = 0.0;
};

// Linear warmup then cosine decay:
//   epoch < warmup_steps:  base_lr * (epoch + 1) / warmup_steps
//   warmup_steps <= epoch < total_steps:  min_lr + (base_lr - min_lr) * (1 + cos(pi * progress)) / 2,
//                                         progress = (epoch - warmup_steps) / (total_steps - warmup_steps)
//   epoch >= total_steps:  min_lr
// With warmup_steps = 0 this is torch's CosineAnnealingLR(T_max = total_steps, eta_min = min_lr) up to T_max.
// warmup_steps >= total_steps is allowed (a short run of a long schedule, a smoke test): the run only warms up, as
// with Hugging Face's get_cosine_schedule_with_warmup.
class WarmupCosineLR : public LRScheduler {
 public:
  WarmupCosineLR(Optimizer& optimizer, WarmupCosineOptions options);
  double lr_at(int64_t epoch) const override;
  std::string name() const override { return "WarmupCosineLR"; }
  const WarmupCosineOptions& options() const { return options_; }

 private:
  WarmupCosineOptions options_;
};

}  // namespace tessera::optim
