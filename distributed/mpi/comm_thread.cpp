#include "distributed/mpi/comm_thread.h"

#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <exception>

namespace tessera::dist::mpi {

// The Work of one task: completion state plus the thread to help when waited on.
class CommThread::TaskWork final : public Work {
 public:
  explicit TaskWork(CommThread& thread) : thread_(&thread) {}
  void wait() override {
    if (!done_.is_completed()) thread_->run_until_completed(*this);
    done_.wait();
  }
  bool is_completed() override { return done_.is_completed(); }
  std::optional<WorkTiming> timing() override {
    if (!done_.is_completed()) return std::nullopt;
    return timing_;
  }
  bool completed() const { return done_.completed(); }
  void complete(std::exception_ptr error) { done_.complete(std::move(error)); }
  WorkTiming timing_;  // written by the executor before complete()

 private:
  CommThread* thread_;  // outlives every TaskWork that is not completed: the destructor drains the queue
  AsyncWork done_;
};

CommThread::CommThread(Watchdog& watchdog) : watchdog_(watchdog), thread_([this] { run(); }) {
  // SCHED_BATCH: same fair share of the CPU, but waking it never preempts the running thread. When the rank's
  // threads share one core (mpirun binds each rank to a core), submit()'s wake-up would otherwise switch to this
  // thread at once, before the caller reaches wait() to run the collective itself; with it, a caller that waits
  // goes on and runs it, and one that computes instead lets this thread run at the scheduler's next turn (at once
  // where the rank has an idle core). Best effort: a refusal leaves the default policy.
  const sched_param param{.sched_priority = 0};
  pthread_setschedparam(thread_.native_handle(), SCHED_BATCH, &param);
}

CommThread::~CommThread() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  ready_.notify_one();
  thread_.join();
}

WorkPtr CommThread::submit(CollectiveCall call, std::function<void()> body) {
  auto work = std::make_shared<TaskWork>(*this);
  bool wake;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(Task{std::move(call), std::move(body), work});
    wake = !executing_;  // a running executor looks at the queue when it finishes
  }
  if (wake) ready_.notify_one();
  return work;
}

void CommThread::execute_front(std::unique_lock<std::mutex>& lock) {
  Task task = std::move(queue_.front());
  queue_.pop_front();
  executing_ = true;
  lock.unlock();
  const Watchdog::Ticket ticket = watchdog_.start(task.call);
  std::exception_ptr error;
  task.work->timing_.host_start = std::chrono::steady_clock::now();
  try {
    task.body();
  } catch (...) {
    error = std::current_exception();
  }
  task.work->timing_.host_end = std::chrono::steady_clock::now();
  watchdog_.finish(ticket);
  task.work->complete(error);
  lock.lock();
  executing_ = false;
  if (helpers_waiting_ > 0) idle_.notify_all();
}

void CommThread::run_until_completed(const TaskWork& work) {
  std::unique_lock lock(mutex_);
  while (!work.completed()) {
    if (!executing_ && !queue_.empty()) {
      execute_front(lock);
    } else {
      ++helpers_waiting_;
      idle_.wait(lock);
      --helpers_waiting_;
    }
  }
  if (!queue_.empty() && !executing_) ready_.notify_one();  // what was submitted behind our task
}

void CommThread::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    ready_.wait(lock, [&] { return (stop_ && queue_.empty()) || (!queue_.empty() && !executing_); });
    if (queue_.empty()) return;  // stop_ and drained
    execute_front(lock);
  }
}

}  // namespace tessera::dist::mpi
