#pragma once
// The streams of the runtime over host memory (runtime.cpp): each queues its work and runs it as late as a GPU may,
// when something needs it. A GPU may run a stream's work at any time between its queueing and the moment a host wait,
// an event that another stream waits for, or a synchronous copy needs it; running it at the last moment is one
// schedule a GPU may follow, and the one that exposes a missing wait: the reader runs before the writer it forgot
// to wait for, and a host that refills a buffer before the copy from it has passed overwrites what the copy reads.
//
// Invariants:
//  - one recursive lock (queue_lock) guards every queue and event, and is held while work runs: work that waits for
//    another stream's event runs that stream's earlier work from inside it, on the same thread;
//  - a position is the count of items queued on a stream up to and including one item; an item counts as run from
//    the moment it starts, so work that forces its own stream again never runs itself twice;
//  - dependencies point only at work queued earlier (an event's position exists when a stream waits for it), so
//    running one item's dependencies always ends.
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace tessera::cuda_on_cpu {

using Work = std::function<void()>;

std::recursive_mutex& queue_lock();

class StreamQueue {
 public:
  // `blocking`: created without cudaStreamNonBlocking, so it orders itself with the legacy default stream.
  static std::shared_ptr<StreamQueue> create(bool blocking);

  // Queues work and returns its position. A queue holding too much runs its older half (a GPU may run work early).
  uint64_t push(Work work);
  void run_through(uint64_t position);
  void run_all();
  bool passed(uint64_t position) const { return ran_ >= position; }
  bool idle() const { return ran_ == queued_; }
  bool blocking() const { return blocking_; }
  // Its stream is destroyed: on a GPU the queued work still runs, later. Here it runs right after the next work of
  // another stream that something needed (or at an earlier wait for one of its events): memory whose reuse did not
  // wait for it is then written or read between that stream's work and the host's read.
  static void detach(std::shared_ptr<StreamQueue> queue);

 private:
  explicit StreamQueue(bool blocking) : blocking_(blocking) {}
  static void run_detached();
  bool blocking_;
  std::deque<Work> pending_;
  uint64_t queued_ = 0, ran_ = 0;
};

// Work that throws (a scheduler error, a failed check in a library entry) does not throw out of the call that forced
// it, which may be cudaFree in a destructor: the first failure is printed and kept, and the runtime's host waits
// then fail with cudaErrorLaunchFailure, as a GPU's do after a kernel fault. Empty while nothing failed.
const std::string& work_failure();

// What cudaDeviceSynchronize (and cudaFree) waits for: every stream's work.
void run_every_queue();
bool every_queue_idle();
// What the legacy default stream waits for before its own work: the work of every blocking stream.
void run_blocking_queues();

}  // namespace tessera::cuda_on_cpu
