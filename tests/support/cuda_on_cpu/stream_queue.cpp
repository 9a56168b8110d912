#include "tests/support/cuda_on_cpu/stream_queue.h"

#include <algorithm>
#include <cstdio>
#include <exception>
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

void run_guarded(const Work& work) {
  try {
    work();
  } catch (const std::exception& error) {
    keep_failure(error.what());
  } catch (...) {
    keep_failure("an exception that is not a std::exception");
  }
}

}  // namespace

const std::string& work_failure() { return failure(); }

std::recursive_mutex& queue_lock() {
  static auto* lock = new std::recursive_mutex();
  return *lock;
}

std::shared_ptr<StreamQueue> StreamQueue::create(bool blocking) {
  std::lock_guard<std::recursive_mutex> lock(queue_lock());
  std::shared_ptr<StreamQueue> queue(new StreamQueue(blocking));
  std::erase_if(registry(), [](const auto& weak) { return weak.expired(); });
  registry().push_back(queue);
  return queue;
}

uint64_t StreamQueue::push(Work work) {
  std::lock_guard<std::recursive_mutex> lock(queue_lock());
  pending_.push_back(std::move(work));
  const uint64_t position = ++queued_;
  if (pending_.size() > kMaxPending) run_through(ran_ + pending_.size() / 2);
  return position;
}

void StreamQueue::run_through(uint64_t position) {
  std::lock_guard<std::recursive_mutex> lock(queue_lock());
  const bool runs = ran_ < position;
  while (ran_ < position) {
    Work work = std::move(pending_.front());
    pending_.pop_front();
    ++ran_;  // before running: work that forces this stream again must not run itself twice
    run_guarded(work);
  }
  if (runs) run_detached();
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
  for (const auto& queue : queues) queue->run_all();
}

void StreamQueue::detach(std::shared_ptr<StreamQueue> queue) {
  std::lock_guard<std::recursive_mutex> lock(queue_lock());
  if (!queue->idle()) detached().push_back(std::move(queue));
}

void StreamQueue::run_all() {
  std::lock_guard<std::recursive_mutex> lock(queue_lock());
  run_through(queued_);
}

// Copies of the live queues: running work may drop the last handle on another stream's queue.
void run_every_queue() {
  std::lock_guard<std::recursive_mutex> lock(queue_lock());
  for (const auto& queue : live_queues()) queue->run_all();
  detached().clear();
}

bool every_queue_idle() {
  std::lock_guard<std::recursive_mutex> lock(queue_lock());
  for (const auto& queue : live_queues())
    if (!queue->idle()) return false;
  return true;
}

void run_blocking_queues() {
  std::lock_guard<std::recursive_mutex> lock(queue_lock());
  for (const auto& queue : live_queues())
    if (queue->blocking()) queue->run_all();
}

}  // namespace tessera::cuda_on_cpu
