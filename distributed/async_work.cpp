#include "distributed/async_work.h"

namespace tessera::dist {

void AsyncWork::wait() {
  if (!done_.load(std::memory_order_acquire)) {
    std::unique_lock lock(mutex_);
    done_cv_.wait(lock, [&] { return done_.load(std::memory_order_acquire); });
  }
  if (error_) std::rethrow_exception(error_);
}

void AsyncWork::complete(std::exception_ptr error) {
  {
    std::lock_guard lock(mutex_);
    error_ = std::move(error);
    done_.store(true, std::memory_order_release);
  }
  done_cv_.notify_all();
}

}  // namespace tessera::dist
