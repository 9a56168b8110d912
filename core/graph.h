#pragma once
// DeviceGraph: a captured sequence of device work, replayed with new inputs (torch.cuda.CUDAGraph). A training
// step of a small model is bound by launching its ~100 kernels one by one; a graph launches them all at once.
//
//   DeviceGraph graph(device);
//   Tensor x = batch_x.clone(), y = batch_y.clone();  // static inputs: the graph reads these buffers
//   Tensor sums;
//   graph.capture([&] { optimizer.zero_grad(); Tensor loss = cross_entropy(model(x), y); loss.backward();
//                       optimizer.step(); sums = loss.detach(); });
//   for (...) { x.copy_(next_x); y.copy_(next_y); graph.replay(); read(sums); }
//
// Rules, as for CUDA graphs:
//  - capture() records and does not run: the first replay runs the captured step. Capture after at least one
//    eager step, so that optimizer state, cuDNN plans and GEMM plans exist.
//  - Tensors the graph reads or writes must stay alive and in place: the static inputs, the parameters, and the
//    results made during capture (they live in the graph's memory pool and are rewritten by each replay). The
//    pinned host memory of a captured async copy is held by the graph (not reused until it is destroyed), but
//    what a replay copies is what that memory holds then.
//  - The captured step cannot wait for or read the device from the host (item(), to("cpu"), clip_grad_norm_, which
//    returns the norm to the host; clip_grad_norm_on_device_ does not): those fail while capturing, naming the
//    operation. Read results after replay().
//  - What changes from step to step is taken from device memory: random fills (each generator's offset moves on
//    by what the step draws, so replay k draws what eager step k would) and the optimizer's learning rate and
//    bias corrections (optim::Optimizer registers a hook, run before every replay). Shapes and everything else
//    are fixed at capture.
//  - After each replay is queued, the optimizer bumps its parameters' versions as an eager step does (an
//    after-replay hook), so autograd and autocast's cached copies (core/amp/cast_cache.h) see the replay's update.
//  - The capture records a stream, not a thread: while it lasts, no other thread may queue work on that stream (by
//    default the device's compute stream, shared by every thread) or wait for it, or that work joins the graph and
//    the wait breaks the capture. Other threads may use their own streams (StreamGuard), as a loader's copies do.
//    Record events into the capture only for waits inside it: the host cannot query or wait for such an event
//    until it is recorded again outside a capture.
// Graphs exist on CUDA devices and on the test device (which records and replays; tests/support); the CPU runs
// eagerly and refuses to capture.
#include <functional>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"
#include "kernels/backend.h"

namespace tessera {

class Generator;

class DeviceGraph {
 public:
  explicit DeviceGraph(Device device);
  ~DeviceGraph();  // waits for the graph's replays, then frees its memory pool
  DeviceGraph(const DeviceGraph&) = delete;
  DeviceGraph& operator=(const DeviceGraph&) = delete;

  // Captures what `body` queues on this thread's stream of the device, after waiting for what that stream holds
  // (as torch.cuda.graph does: every event recorded there before has passed, which code inside the capture, where
  // the host cannot wait, may rely on). Throws what body throws (the capture is then discarded); capturing twice is
  // an error.
  void capture(const std::function<void()>& body);
  void replay();
  bool captured() const { return handle_ != nullptr; }
  // Unique per capture in this process (never reused, unlike an address): what a hook's owner remembers.
  uint64_t capture_id() const { return capture_id_; }
  Device device() const { return device_; }

  // Runs before every replay, in the order added (the optimizer writes its step values to the device).
  void add_replay_hook(std::function<void()> hook);
  // Runs on the host once each replay is queued, in the order added: bookkeeping of what the replay writes (the
  // optimizer bumps its parameters' versions, as an eager step does; core/amp/cast_cache.h relies on it).
  void add_after_replay_hook(std::function<void()> hook);
  // The graph this thread is capturing, or null.
  static DeviceGraph* capturing();
  // Generator::reserve_fill while capturing: the offset relative to the generator's base in device memory.
  void place_fill(Generator& gen, kernels::RandomArgs& args, uint64_t words);

 private:
  struct GeneratorUse {
    Generator* generator;
    uint64_t start;  // the generator's offset when the capture first used it
    uint64_t words;  // what one replay draws
  };
  static constexpr int64_t kMaxGenerators = 8;

  Device device_;
  kernels::GraphHandle handle_ = nullptr;
  uint64_t capture_id_ = 0;
  std::vector<std::function<void()>> hooks_;
  std::vector<std::function<void()>> after_hooks_;
  std::vector<GeneratorUse> generators_;
  Tensor generator_bases_;  // i64 [kMaxGenerators] on the device: each generator's offset for the next replay
};

}  // namespace tessera
