#pragma once
// amp::GradScaler: dynamic loss scaling for f16 training, torch.cuda.amp.GradScaler's semantics. f16 gradients of
// small losses underflow to zero; scaling the loss by S (65536 at first) before backward keeps them representable.
// Before the optimizer step the gradients are divided by S again; if any is inf or NaN the step is skipped and S
// halves; after `growth_interval` good steps in a row S doubles.
//
//   amp::GradScaler scaler;
//   optimizer.zero_grad();
//   scaler.scale(loss).backward();
//   scaler.step(optimizer);  // unscales, then steps unless a gradient is inf/NaN
//   scaler.update();         // halves or (after 2,000 good steps) doubles the scale
//
// Invariants: the inf/NaN check is one device reduction per parameter and one host read per step (the decision to
// step is the host's); under data parallelism every rank unscales the same averaged gradients, so every rank
// decides alike. state_dict() ("scale", "growth_tracker") goes into checkpoints.
#include <cstdint>

#include "core/nn/state_dict.h"
#include "core/optim/optimizer.h"

namespace tessera::amp {

struct GradScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;  // false: scale() returns the loss, step() just steps (the same loop runs in f32)
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});

  Tensor scale(const Tensor& loss) const;  // loss * the current scale
  // Divides every gradient of the optimizer's parameters by the scale, in place, and notes whether any is inf or
  // NaN. At most once per step (step() calls it when the loop has not, e.g. to clip gradients in between).
  void unscale_(optim::Optimizer& optimizer);
  // optimizer.step() unless a gradient was inf or NaN; returns whether it stepped.
  bool step(optim::Optimizer& optimizer);
  // After step(): backs the scale off after a skipped step, grows it after growth_interval good ones in a row.
  void update();

  double get_scale() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }
  bool enabled() const { return options_.enabled; }
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);  // an error names a missing or invalid key

 private:
  GradScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
  bool unscaled_ = false;   // unscale_ ran for the current step
  bool found_inf_ = false;  // what it found
  bool stepped_ = false;    // step() ran since the last update()
};

}  // namespace tessera::amp
