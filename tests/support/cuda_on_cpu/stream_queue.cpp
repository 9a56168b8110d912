#include "tests/support/cuda_on_cpu/stream_queue.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>
#include <vector>

namespace tessera::cuda_on_cpu {

namespace {

// Bounds a stream that nothing waits for (a loop that never reads a value), as a GPU's queue depth does.
constexpr size_t kMaxPending = 4096;

// Every live queue, so that a device-wide wait finds them; a destroyed stream's queue expires here.
std::vector<std::weak_ptr<StreamQueue>>& registry() {
  static auto* queues = new std::vector<std::weak_ptr<StreamQueue>>();  // never destroyed: streams outlive statics
  return *queues;
}

// Queues of destroyed streams that still hold work: run after the next forced work (StreamQueue::detach).
std::vector<std::shared_ptr<StreamQueue>>& detached() {
  static auto* queues = new std::vector<std::shared_ptr<StreamQueue>>();
  return *queues;
}

std::vector<std::shared_ptr<StreamQueue>> live_queues() {
  std::vector<std::shared_ptr<StreamQueue>> live;
  for (const auto& weak : registry())
    if (auto queue = weak.lock()) live.push_back(std::move(queue));
  return live;
}

std::string& failure() {  // guarded by queue_lock
  static auto* text = new std::string();
  return *text;
}

void keep_failure(const char* what) {
  if (!failure().empty()) return;
  failure() = what;
  std::fprintf(stderr, "cuda_on_cpu: queued work failed: %s\n", what);
}

// Work that throws has finished, failed.
bool finish_guarded(const Finished& work) {
  try {
    return work();
  } catch (const std::exception& error) {
    keep_failure(error.what());
  } catch (...) {
    keep_failure("an exception that is not a std::exception");
  }
  return true;
}
void run_guarded(const Work& work) {
  finish_guarded([&] {
    work();
    return true;
  });
}

int& depth_on_this_thread() {
  static thread_local int depth = 0;  // trivially destructible: fine in threads that end during exit()
  return depth;
}

}  // namespace

const std::string& work_failure() { return failure(); }

void QueueLock::lock() {
  mutex_.lock();
  ++depth_on_this_thread();
}
void QueueLock::unlock() {
  --depth_on_this_thread();
  mutex_.unlock();
}
bool QueueLock::held_once_by_this_thread() const { return depth_on_this_thread() == 1; }

QueueLock& queue_lock() {
  static auto* lock = new QueueLock();
  return *lock;
}

// Yields at first, since most waits end after a poll or two; then sleeps, as a host polling a GPU does.
void wait_until(const Finished& ready) {
  std::unique_lock<QueueLock> lock(queue_lock());
  for (int polls = 0; !ready(); ++polls) {
    if (!queue_lock().held_once_by_this_thread()) continue;
    lock.unlock();
    if (polls < 100) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(50));
    lock.lock();
  }
}

std::shared_ptr<StreamQueue> StreamQueue::create(bool blocking) {
  std::lock_guard<QueueLock> lock(queue_lock());
  std::shared_ptr<StreamQueue> queue(new StreamQueue(blocking));
  std::erase_if(registry(), [](const auto& weak) { return weak.expired(); });
  registry().push_back(queue);
  return queue;
}

uint64_t StreamQueue::push(Work work) { return push_item({.start = std::move(work)}); }
uint64_t StreamQueue::push_lasting(Work start, Finished finished) {
  return push_item({.start = std::move(start), .finished = std::move(finished)});
}

uint64_t StreamQueue::push_item(Item item) {
  std::lock_guard<QueueLock> lock(queue_lock());
  pending_.push_back(std::move(item));
  const uint64_t position = ++queued_;
  if (pending_.size() > kMaxPending) advance(ran_ + pending_.size() / 2);
  return position;
}

bool StreamQueue::advance(uint64_t position) {
  std::lock_guard<QueueLock> lock(queue_lock());
  if (advancing_) return ran_ >= position;
  advancing_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{advancing_};
  const uint64_t ran_before = ran_;
  while (ran_ < position) {
    Item& front = pending_.front();
    if (!front.finished) {
      Work work = std::move(front.start);
      pending_.pop_front();
      ++ran_;  // before running: work that forces this stream again must not run itself twice
      run_guarded(work);
      continue;
    }
    if (!front.started) {
      front.started = true;
      if (front.start) {
        const Work start = std::move(front.start);
        run_guarded(start);
      }
    }
    // `front` stays valid meanwhile: work that queues more only appends (a deque keeps its references), and a
    // nested advance of this queue pops nothing.
    if (!finish_guarded(front.finished)) break;
    pending_.pop_front();
    ++ran_;
  }
  if (ran_ != ran_before) run_detached();
  return ran_ >= position;
}

void StreamQueue::wait_through(uint64_t position) {
  wait_until([this, position] { return advance(position); });
}

void StreamQueue::run_detached() {
  static bool running = false;  // guarded by queue_lock; detached work that waits for events must not recurse here
  if (running || detached().empty()) return;
  running = true;
  struct Reset {
    ~Reset() { running = false; }
  } reset;
  std::vector<std::shared_ptr<StreamQueue>> queues;
  queues.swap(detached());
  for (auto& queue : queues)
    if (!queue->advance_all()) detached().push_back(std::move(queue));  // lasting work not finished yet
}

void StreamQueue::detach(std::shared_ptr<StreamQueue> queue) {
  std::lock_guard<QueueLock> lock(queue_lock());
  if (!queue->idle()) detached().push_back(std::move(queue));
}

namespace {

// The live queues (copies: running work may drop the last handle on another stream's queue), each with what it
// holds now: what a host wait that begins now waits for.
using Targets = std::vector<std::pair<std::shared_ptr<StreamQueue>, uint64_t>>;
Targets queued_now(bool blocking_only) {
  std::lock_guard<QueueLock> lock(queue_lock());
  Targets targets;
  for (auto& queue : live_queues())
    if (!blocking_only || queue->blocking()) targets.emplace_back(queue, queue->queued());
  return targets;
}

void wait_for(const Targets& targets) {
  wait_until([&targets] {
    bool passed = true;
    for (const auto& [queue, position] : targets) passed = queue->advance(position) && passed;
    return passed;
  });
}

}  // namespace

void wait_for_every_queue() {
  wait_for(queued_now(false));
  std::lock_guard<QueueLock> lock(queue_lock());
  std::erase_if(detached(), [](const auto& queue) { return queue->idle(); });  // live while they hold work
}

bool every_queue_idle() {
  std::lock_guard<QueueLock> lock(queue_lock());
  for (const auto& queue : live_queues())
    if (!queue->idle()) return false;
  return true;
}

void wait_for_blocking_queues() { wait_for(queued_now(true)); }

}  // namespace tessera::cuda_on_cpu
