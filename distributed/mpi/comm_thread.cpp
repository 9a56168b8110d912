#include "distributed/mpi/comm_thread.h"

#include <exception>

namespace tessera::dist::mpi {

CommThread::CommThread(Watchdog& watchdog) : watchdog_(watchdog), thread_([this] { run(); }) {}

CommThread::~CommThread() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  ready_.notify_one();
  thread_.join();
}

WorkPtr CommThread::submit(CollectiveCall call, std::function<void()> body) {
  auto work = std::make_shared<AsyncWork>();
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(Task{std::move(call), std::move(body), work});
  }
  ready_.notify_one();
  return work;
}

void CommThread::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    ready_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and drained
    Task task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    const Watchdog::Ticket ticket = watchdog_.start(task.call);
    std::exception_ptr error;
    try {
      task.body();
    } catch (...) {
      error = std::current_exception();
    }
    watchdog_.finish(ticket);
    task.work->complete(error);
    lock.lock();
  }
}

}  // namespace tessera::dist::mpi
