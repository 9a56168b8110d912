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
//    after one eager step), since a state tensor created inside the capture would be zeroed at every replay;
//  - step_unless keeps the step counts on the device (an i64 per parameter, made by the first eager step_unless),
//    where the kernels advance them unless the step is skipped and derive each step's values from them: the host
//    never waits for a skip decision. The host's counts are then provisional (every step counted) until a reader
//    (step_count, state_dict, load_state_dict, a plain step()) copies the device's back, which waits for the device;
//  - a parameter whose only steps were skipped keeps its (zero) state tensors, which a captured graph may hold, but
//    counts 0 and is left out of state_dict(), as in PyTorch, where its state never came to be.
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
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient.
  virtual void step() = 0;
  // step(), which the device skips when `found_inf` (an f32 scalar on the parameters' device, written by earlier
  // device work: GradScaler::unscale_) is nonzero by the time the step's kernels run: then no parameter, state,
  // step count or autocast copy changes. The host does not wait for the decision: the counts are kept on the device
  // (see the invariants above), so a loop of step_unless steps never waits for the device.
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

  // The step count of parameter i (0 before its first update; a step the device skipped does not count: after
  // step_unless steps this waits for the device).
  int64_t step_count(size_t index) const;

 protected:
  struct ParamState {
    int64_t step = 0;
    std::vector<std::pair<std::string, Tensor>> tensors;  // in the order of state_names()
  };

  // The names of the per-parameter state tensors this optimizer keeps (given its options).
  virtual std::vector<std::string> state_names() const = 0;
  // Hyper-parameters other than lr as (name, value); set_options restores them all at once (validated together,
  // so a combination such as nesterov with momentum is checked as a whole, and nothing changes on error).
  virtual std::vector<std::pair<std::string, double>> options_list() const = 0;
  virtual void set_options(const std::vector<std::pair<std::string, double>>& values) = 0;

  // A fused step: slot_of(i, t, param, grad) describes each parameter with a gradient (t: the number of this step
  // for it, 1 for its first; grad contiguous, of the parameter's dtype and device; the parameter's layout checked
  // first), then
  // run(backend, dtype, slots, count) updates each (device, dtype) group in one backend call, under no-grad;
  // every updated parameter's version is bumped afterwards.
  using SlotFn =
      std::function<kernels::OptimizerSlot(size_t index, int64_t t, const Tensor& param, const Tensor& grad)>;
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
  // eager step does after its kernels: bump the versions of `updated` and mark the autocast copies of `with_copy`
  // current. A `skippable` step (step_unless) counts on the device; its replays never wait for the host.
  kernels::StepScalars capture_step(DeviceGraph& graph, const std::vector<size_t>& updated,
                                    const std::vector<size_t>& with_copy, bool skippable);
  // After the step's kernels (eager, or a replay of a captured step).
  void after_update(const std::vector<size_t>& updated, const std::vector<size_t>& with_copy);
  // Makes the counts buffer on `device` current, copying the host's exact counts there unless it already is.
  void counts_to_device(Device device);
  // Makes the host's counts exact, copying the device's back (the host waits for the last step_unless) if they are
  // provisional. The device's stay current.
  void counts_to_host() const;
  // Where the counts go before a step: to the device for a step_unless (`on_device`), else to the host.
  void place_counts(bool on_device, Device device);
  // The counts buffer on `device`, or null before its first use.
  const Tensor* counts_buffer(Device device) const;
  // Parameter i's count in the buffer on `device` (made on first use).
  int64_t* device_count(Device device, size_t i);
  // After a step_unless's kernels (eager, or a replay) on `device`: the host's counts are provisional until then.
  void counts_written(Device device);

  // mutable: the counts of step_unless steps come back from the device lazily, also for const readers.
  mutable std::vector<ParamState> state_;
  Tensor found_inf_;  // step_unless's flag while its step runs
  // The counts step_unless steps keep on the device (OptimizerSlot::step): an i64 [params] buffer per device used,
  // kept for the optimizer's life, since a captured graph holds its address.
  std::vector<Tensor> device_steps_;
  std::optional<Device> counts_device_;    // whose buffer holds the current counts, if any
  mutable bool host_counts_exact_ = true;  // else provisional: step_unless steps counted, skipped or not
  std::optional<Event> counts_written_;    // recorded behind each step_unless (eager or replayed), one event reused
  // f64 [StepScalars::kCount] on the device of the eager steps, made by an eager step (never inside a capture: a
  // block allocated there may be one the captured step used and freed before, and each replay would then overwrite
  // what the hook wrote before it).
  Tensor graph_scalars_;
  std::vector<uint64_t> hooked_captures_;          // DeviceGraph::capture_id of captures given a replay hook
};

}  // namespace tessera::optim
