#pragma once
// Streams and events, as torch.cuda.Stream and torch.cuda.Event. A stream is a queue of device work; work on
// different streams runs in any order unless an event orders it: record an Event where the producer's work ends,
// make the consumer's stream wait() for it. Each thread's current stream (where every op queues its work) is the
// device's compute stream unless a StreamGuard chooses another, as a loader does for its copies:
//
//   tessera::Stream copies = tessera::Stream::create(device);
//   tessera::Event copied(device), consumed(device);
//   consumed.record();  // on the compute stream: past its use of the previous batch
//   { tessera::StreamGuard guard(copies); consumed.wait(); x_device = x_pinned.to(device, /*non_blocking=*/true);
//     copied.record(); }
//   copied.wait();  // the compute stream waits for the copy; the host does not
//
// Device memory is cached per stream (the stream that allocated a block gets it back when its tensor dies): a block
// that another stream used may be handed out again at once on its own stream, unless the tensor said so with
// Tensor::record_stream(other) (then not before the other stream's work queued up to the free has run, as in
// PyTorch). Without it, a side stream that allocates (x_device above) first waits for the streams that used its
// earlier blocks, as `consumed.wait()` does here and io/loader.cpp does before each batch; otherwise the copy of
// batch i + 1 may land in batch i's block while the compute stream still reads it. Either way the compute stream
// must wait for `copied` before reading x_device.
//
// The CPU runs everything at once: its streams and events are names only, so code written with them runs there
// unchanged. The test device runs side-stream work as late as a GPU may (tests/support/emulated_gpu_backend.h), so
// a missing wait shows up in CI.
#include <memory>

#include "core/device.h"
#include "kernels/backend.h"

namespace tessera {

class Stream {
 public:
  static Stream create(Device device);   // a new side stream, destroyed (after its work) with its last copy
  static Stream compute(Device device);  // the device's compute stream
  static Stream current(Device device);  // the calling thread's current stream
  Device device() const { return device_; }
  bool is_compute() const { return handle() == nullptr; }
  kernels::StreamHandle handle() const;
  void synchronize() const;  // the host waits for the work queued on it so far

 private:
  struct Owned;
  Stream(Device device, std::shared_ptr<Owned> owned, kernels::StreamHandle borrowed);
  Device device_;
  std::shared_ptr<Owned> owned_;                // streams made by create()
  kernels::StreamHandle borrowed_ = nullptr;    // compute/current: not ours to destroy
};

// Makes `stream` the calling thread's current stream on its device for the scope.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream stream_;  // kept alive for the scope
  kernels::StreamHandle previous_;
};

// A point in a stream. Copies share one event.
class Event {
 public:
  // timing: the event also keeps when it passed (CUDA timing events; host time on the CPU), for elapsed_ms.
  explicit Event(Device device, bool timing = false);
  void record();             // marks the current point of the calling thread's current stream
  void wait() const;         // the current stream waits for it; the host does not
  void synchronize() const;  // the host waits for it
  bool query() const;        // has it passed? never waits
  // Milliseconds from this event to `later` (both timing events of one device); waits for both to pass.
  double elapsed_ms(const Event& later) const;
  Device device() const { return device_; }
  kernels::EventHandle handle() const;

 private:
  struct Owned;
  Device device_;
  std::shared_ptr<Owned> owned_;
};

}  // namespace tessera
