#pragma once
// A Work completed by another thread (the MPI backend's communication thread): complete() once, with or without
// an error; wait() blocks until then and rethrows the error, on every call.
//
// Invariants: complete() is called exactly once; after it, is_completed() is true and the stored error (if any) is
// immutable, so wait() may be called from any thread any number of times.
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>

#include "distributed/communicator.h"

namespace tessera::dist {

class AsyncWork final : public Work {
 public:
  void wait() override;
  bool is_completed() override { return done_.load(std::memory_order_acquire); }
  bool completed() const { return done_.load(std::memory_order_acquire); }
  void complete(std::exception_ptr error = nullptr);

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  std::atomic<bool> done_{false};
  std::exception_ptr error_;
};

}  // namespace tessera::dist
