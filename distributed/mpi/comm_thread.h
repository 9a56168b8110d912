#pragma once
// The MPI backend's communication thread: runs collectives one at a time, in the order they were submitted, while
// the submitting thread goes on computing (DESIGN.md: "collectives run on a communication thread").
//
// Invariants:
// - FIFO: every rank submits the same collectives in the same order, so running them in submission order on one
//   thread keeps the ranks matched (MPI requires collectives on a communicator in the same order everywhere).
// - Each collective is watched by the watchdog while it runs; an exception from its body completes its Work with
//   that error (wait() rethrows it) and the thread goes on with the next one.
// - The destructor runs everything already submitted, then joins the thread.
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "distributed/async_work.h"
#include "distributed/collective_call.h"
#include "distributed/watchdog.h"

namespace tessera::dist::mpi {

class CommThread {
 public:
  explicit CommThread(Watchdog& watchdog);
  ~CommThread();
  CommThread(const CommThread&) = delete;
  CommThread& operator=(const CommThread&) = delete;

  WorkPtr submit(CollectiveCall call, std::function<void()> body);

 private:
  struct Task {
    CollectiveCall call;
    std::function<void()> body;
    std::shared_ptr<AsyncWork> work;
  };
  void run();

  Watchdog& watchdog_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Task> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tessera::dist::mpi
