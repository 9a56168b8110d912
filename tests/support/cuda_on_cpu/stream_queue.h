#pragma once
// The streams of the runtime over host memory (runtime.cpp): each queues its work and runs it as late as a GPU may,
// when something needs it. A GPU may run a stream's work at any time between its queueing and the moment a host wait,
// an event that another stream waits for, or a synchronous copy needs it; running it at the last moment is one
// schedule a GPU may follow, and the one that exposes a missing wait: the reader runs before the writer it forgot
// to wait for, and a host that refills a buffer before the copy from it has passed overwrites what the copy reads.
//
// Most work runs whole once started (a kernel, a copy). Lasting work does not: it starts, then takes time that
// depends on something else, as NCCL's kernel waits on a GPU until its peers reach the same collective, or a stream
// waits for another stream's event. The stream stops in front of it until it has finished; nothing waits for it
// while holding the queue lock, so a query (the watchdog's) never blocks, and a host wait lets other threads in
// between its polls.
//
// Invariants:
//  - one recursive lock (queue_lock) guards every queue and event, and is held while work runs: work that waits for
//    another stream's event runs that stream's earlier work from inside it, on the same thread;
//  - a position is the count of items queued on a stream up to and including one item; an item counts as run from
//    the moment it starts, so work that forces its own stream again never runs itself twice; lasting work is
//    started once and counts as run once it has finished;
//  - dependencies point only at work queued earlier (an event's position exists when a stream waits for it), so
//    running one item's dependencies always ends, and lasting work in front of a stream never waits for itself;
//  - one advance() at a time per queue: a nested one (from its own work's dependencies, or detached work run at
//    their end) runs nothing, so an item is popped only by the call that ran or polled it;
//  - a host wait (wait_until) releases the lock between its polls only when no caller further up holds it: work
//    that a queue is running never has another thread run that queue's next item before it ends.
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace tessera::cuda_on_cpu {

using Work = std::function<void()>;
using Finished = std::function<bool()>;  // polled: true once lasting work has finished

// A recursive mutex that knows how many times the calling thread holds it (wait_until).
class QueueLock {
 public:
  void lock();
  void unlock();
  bool held_once_by_this_thread() const;

 private:
  std::recursive_mutex mutex_;
};
QueueLock& queue_lock();

// Polls `ready` under the queue lock until it returns true; between polls that say no, releases the lock for a
// moment when this thread holds it only here (see the invariants). A host wait on queued work.
void wait_until(const Finished& ready);

class StreamQueue {
 public:
  // `blocking`: created without cudaStreamNonBlocking, so it orders itself with the legacy default stream.
  static std::shared_ptr<StreamQueue> create(bool blocking);

  // Queues work and returns its position. A queue holding too much runs its older half (a GPU may run work early).
  uint64_t push(Work work);
  // Lasting work: `start` runs when the stream reaches it, then the stream's later work waits until `finished`.
  uint64_t push_lasting(Work start, Finished finished);
  // Runs what can run now of the work up to `position`: whole work, and lasting work started and polled, never
  // waited for. True once all of it has passed. Called again from inside its own work (a poll that advances another
  // stream, whose detached work advances this one), it runs nothing more and says where the queue stands.
  bool advance(uint64_t position);
  bool advance_all() { return advance(queued_); }
  // A host wait for the work queued up to `position` (wait_until): work queued later, by other threads while the
  // lock is released between polls, is not waited for.
  void wait_through(uint64_t position);
  uint64_t queued() const { return queued_; }
  bool passed(uint64_t position) const { return ran_ >= position; }
  bool idle() const { return ran_ == queued_; }
  bool blocking() const { return blocking_; }
  // Its stream is destroyed: on a GPU the queued work still runs, later. Here it runs right after the next work of
  // another stream that something needed (or at an earlier wait for one of its events): memory whose reuse did not
  // wait for it is then written or read between that stream's work and the host's read.
  static void detach(std::shared_ptr<StreamQueue> queue);

 private:
  explicit StreamQueue(bool blocking) : blocking_(blocking) {}
  struct Item {
    Work start;
    Finished finished;  // empty for work that runs whole
    bool started = false;
  };
  uint64_t push_item(Item item);
  static void run_detached();
  bool blocking_;
  bool advancing_ = false;  // advance() is running (on the thread holding the lock)
  std::deque<Item> pending_;
  uint64_t queued_ = 0, ran_ = 0;
};

// Work that throws (a scheduler error, a failed check in a library entry) does not throw out of the call that forced
// it, which may be cudaFree in a destructor: the first failure is printed and kept, and the runtime's host waits
// then fail with cudaErrorLaunchFailure, as a GPU's do after a kernel fault. Empty while nothing failed.
const std::string& work_failure();

// What cudaDeviceSynchronize (and cudaFree) waits for: every stream's work queued so far.
void wait_for_every_queue();
bool every_queue_idle();
// What the legacy default stream waits for before its own work: the work queued so far on every blocking stream.
void wait_for_blocking_queues();

}  // namespace tessera::cuda_on_cpu
