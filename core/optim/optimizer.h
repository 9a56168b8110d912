#pragma once
// optim::Optimizer: the base of SGD, Adam and AdamW, like torch.optim.Optimizer with one parameter group.
// Invariants:
//  - parameters are identified by their index in the vector given at construction (registration order of
//    named_parameters()), which is how state is saved and restored;
//  - per-parameter state (a step count and named tensors such as "exp_avg") is created at the first step() that
//    finds a gradient for that parameter; parameters without a gradient are skipped and keep no state;
//  - step() updates parameters in place under no-grad and bumps their version; it needs contiguous f32 or f64
//    CPU parameters (what modules create), and converts gradients to the parameter's layout when needed;
//  - a step() captured in a DeviceGraph (core/graph.h) reads its lr and bias corrections from device memory, which
//    a replay hook fills (and step counts advance) before each replay; its state must exist by then (capture
//    after one eager step), since a state tensor created inside the capture would be zeroed at every replay.
// state_dict() keys: "optimizer.<Name>" (i64 scalar: number of parameters; identifies the optimizer),
// "options.<hyper-parameter>" (f64 scalars, lr included), "state.<i>.step" (i64 scalar) and
// "state.<i>.<tensor>" for each parameter i that has state. The state tensors are shared with the optimizer
// (save them before the next step); load_state_dict copies.
#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/nn/state_dict.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/backend.h"

namespace tessera {
class DeviceGraph;
}

namespace tessera::optim {

class Optimizer {
 public:
  Optimizer(std::vector<Tensor> params, double lr);
  virtual ~Optimizer();  // waits for a pending read-back (step_unless) to land
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient.
  virtual void step() = 0;
  // step(), which the device skips when `found_inf` (an f32 scalar on the parameters' device, written by earlier
  // device work: GradScaler::unscale_) is nonzero by the time the step's kernels run: then no parameter, state or
  // autocast copy changes. The host does not wait for the decision: step counts advance now, and are taken back
  // (a first step's new state dropped, as if it never ran) once the flag, copied to the host behind the step, shows a
  // skip; that is read before the counts are next used (the next step, step_count, state_dict), normally long
  // after the device has passed it.
  void step_unless(const Tensor& found_inf);
  // Clears (set_to_none) or zeroes the gradients of all parameters.
  void zero_grad(bool set_to_none = true);

  double lr() const { return lr_; }
  void set_lr(double lr);
  const std::vector<Tensor>& params() const { return params_; }
  virtual std::string name() const = 0;  // "SGD", "Adam", "AdamW"

  StateDict state_dict() const;
  // Restores hyper-parameters and per-parameter state saved by the same kind of optimizer over parameters of the
  // same shapes. Any mismatch (another optimizer, another parameter count, an unknown key, a wrong shape) is an
  // error naming it, and leaves this optimizer unchanged.
  void load_state_dict(const StateDict& state);

  // The step count of parameter i (0 before its first update; a step the device skipped does not count).
  int64_t step_count(size_t index) const;

 protected:
  struct ParamState {
    int64_t step = 0;
    std::vector<std::pair<std::string, Tensor>> tensors;  // in the order of state_names()
  };

  // The names of the per-parameter state tensors this optimizer keeps (given its options).
  virtual std::vector<std::string> state_names() const = 0;
  // Hyper-parameters other than lr as (name, value); set_option restores one by name.
  virtual std::vector<std::pair<std::string, double>> options_list() const = 0;
  virtual void set_option(const std::string& name, double value) = 0;

  // A fused step: slot_of(i, param, grad) describes each parameter with a gradient (grad contiguous, of the
  // parameter's dtype and device; the parameter's layout checked and its step count bumped first), then
  // run(backend, dtype, slots, count) updates each (device, dtype) group in one backend call, under no-grad;
  // every updated parameter's version is bumped afterwards.
  using SlotFn = std::function<kernels::OptimizerSlot(size_t index, const Tensor& param, const Tensor& grad)>;
  // `scalars` is set when the step is being captured in a graph: the kernels read the step's values there.
  using RunFn = std::function<void(kernels::Backend& backend, DType dtype, const kernels::OptimizerSlot* slots,
                                   size_t count, kernels::StepScalars scalars)>;
  void fused_step(const SlotFn& slot_of, const RunFn& run);
  // State tensor `name` of parameter i, created zero-filled like the parameter when absent (created == true then).
  Tensor state_tensor(size_t index, const std::string& name, bool* created = nullptr);
  ParamState& state(size_t index) { return state_[index]; }
  // The values of step t (the StepScalars layout: lr, and Adam's step_size and bias_correction2_sqrt).
  virtual std::array<double, kernels::StepScalars::kCount> step_scalars(int64_t t) const = 0;

  std::vector<Tensor> params_;
  double lr_;

 private:
  void check_param(size_t index) const;
  // Inside `graph`'s capture: the device scalars of the captured step, a replay hook (once per capture) that
  // advances the step counts of `updated` and writes their values there, and an after-replay hook that does what an
  // eager step does after its kernels: bump the versions of `updated`, mark the autocast copies of `with_copy`
  // current, and for a `skippable` step (step_unless) watch the replay's read-back of its flag, which the next
  // replay hook settles (so the host waits for each replay of such a graph before queuing the next).
  kernels::StepScalars capture_step(DeviceGraph& graph, const std::vector<size_t>& updated,
                                    const std::vector<size_t>& with_copy, bool skippable);
  // After the step's kernels (eager, or a replay of a captured step).
  void after_update(const std::vector<size_t>& updated, const std::vector<size_t>& with_copy);
  // step_unless's read-back: queues the copy of found_inf into skip_read_ (made here unless `capturing`), on the
  // current stream behind the step's kernels.
  void copy_skip_flag(Device device, bool capturing);
  // Marks the counts of `updated` as pending until the copy queued before now has passed.
  void watch_skip(Device device, const std::vector<size_t>& updated);
  // Takes back the counts of a pending step the device skipped (waits for its read-back if it has not passed).
  void settle_skip() const;

  // mutable: a step the device skipped is settled lazily, also from const readers (step_count, state_dict).
  mutable std::vector<ParamState> state_;
  Tensor found_inf_;   // step_unless's flag while its step runs
  Tensor skip_read_;   // the flag copied to host memory (pinned for a GPU), reused by every step
  std::optional<Event> skip_copied_;  // recorded behind each read-back (one event, reused)
  struct PendingSkip {
    std::vector<size_t> updated;
    Event copied;
    kernels::StreamHandle stream;  // where the read-back was queued
  };
  mutable std::optional<PendingSkip> pending_skip_;
  // f64 [StepScalars::kCount] on the device of the eager steps, made by an eager step (never inside a capture: a
  // block allocated there may be one the captured step used and freed before, and each replay would then overwrite
  // what the hook wrote before it).
  Tensor graph_scalars_;
  std::vector<uint64_t> hooked_captures_;          // DeviceGraph::capture_id of captures given a replay hook
};

}  // namespace tessera::optim
