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
// Several optimizers (a GAN's generator and discriminator) share one scaler, as in PyTorch: unscale_ and step once
// per optimizer, then one update(). Each optimizer's step is skipped only for an inf/NaN among its own gradients;
// the scale backs off when any had one.
//
// Invariants:
//  - the scale (f32), the growth tracker (i32) and the inf/NaN flag live on the loss's device, and every decision is
//    the device's: unscale_ is one multi-tensor launch per 32 gradients that also sets the flag, the optimizer's
//    kernels skip the step when it is set (Optimizer::step_unless), and update() is one kernel. So the host does not
//    wait for a step's flag (PyTorch's GradScaler.step reads it with .item(), draining the queue): the optimizer
//    keeps its step counts on the device, where a skipped step does not count, and an f16 step can be captured in a
//    DeviceGraph. Reading a value (get_scale, growth_tracker, found_inf, state_dict) waits for the device.
//  - under data parallelism every rank unscales the same averaged gradients, so every rank decides alike.
//  - state_dict() ("scale", "growth_tracker") goes into checkpoints.
#include <cstdint>
#include <map>
#include <vector>

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

  // loss * the current scale, read on the loss's device (where the scaler keeps its state from the first call).
  Tensor scale(const Tensor& loss);
  // Divides every gradient of the optimizer's parameters by the scale, in place, and sets the optimizer's device
  // flag when any element is inf or NaN. At most once per optimizer and step (step() calls it when the loop has
  // not, e.g. to clip gradients in between); an error when no scale() came since the last update(), since the
  // gradients would be divided by a scale they were never multiplied by (PyTorch asserts this on its first step).
  void unscale_(optim::Optimizer& optimizer);
  // optimizer.step(), which the device skips when one of its gradients was inf or NaN. Once per optimizer and step.
  void step(optim::Optimizer& optimizer);
  // After step(): backs the scale off after a step with an inf/NaN gradient (any optimizer's), grows it after
  // growth_interval good ones in a row.
  void update();

  // Between unscale_ (or step) and update(): whether a gradient unscaled so far was inf or NaN.
  bool found_inf() const;
  double get_scale() const;
  int64_t growth_tracker() const;
  bool enabled() const { return options_.enabled; }
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);  // an error names a missing or invalid key

 private:
  // Creates the device state on `device` from the starting values (or moves it there).
  void place_on(Device device);

  GradScalerOptions options_;
  double start_scale_;  // the values the device state starts from (init_scale, or a loaded state)
  int64_t start_growth_tracker_ = 0;
  Tensor scale_;           // f32 scalar on the device, once placed
  Tensor growth_tracker_;  // i32 scalar
  // f32 scalars, 0 between update() and the next unscale_: the first optimizer unscaled in a step sets found_inf_
  // (the one update() reads), later ones their own (update() folds them in). Kept across steps, so a captured step
  // allocates nothing.
  Tensor found_inf_;
  std::vector<Tensor> other_found_inf_;
  struct Progress {
    size_t flag = 0;  // 0: found_inf_; k: other_found_inf_[k - 1]
    bool unscaled = false, stepped = false;
  };
  std::map<const optim::Optimizer*, Progress> progress_;  // this step's optimizers, cleared by update()
  bool scaled_ = false;                                   // scale() ran since the last update()

  Progress& progress_of(const optim::Optimizer& optimizer);
  const Tensor& flag(const Progress& progress) const;
};

}  // namespace tessera::amp
