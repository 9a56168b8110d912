// The mpi backend's communication thread without MPI: FIFO order, errors delivered through wait() (every time it is
// called) without stopping the thread, and a destructor that runs everything already submitted.
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "core/check.h"
#include "distributed/mpi/comm_thread.h"
#include "tests/support/expect_error.h"

namespace tessera {
namespace {

dist::WatchdogOptions no_watchdog() { return {.timeout = std::chrono::milliseconds(0)}; }

TEST(CommThread, RunsInSubmissionOrder) {
  dist::Watchdog watchdog(no_watchdog());
  std::vector<int> order;  // touched only by the comm thread until the last wait()
  std::vector<dist::WorkPtr> works;
  {
    dist::mpi::CommThread thread(watchdog);
    for (int i = 0; i < 200; ++i) works.push_back(thread.submit({.name = "task"}, [&order, i] { order.push_back(i); }));
    works.back()->wait();
    for (const auto& work : works) EXPECT_TRUE(work->is_completed());
  }
  ASSERT_EQ(order.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(order[i], i);
}

TEST(CommThread, ErrorsReachWaitAndTheThreadGoesOn) {
  dist::Watchdog watchdog(no_watchdog());
  dist::mpi::CommThread thread(watchdog);
  dist::WorkPtr failing = thread.submit({.name = "allreduce"}, [] { TESSERA_THROW("MPI allreduce failed on rank 0"); });
  int ran = 0;
  dist::WorkPtr next = thread.submit({.name = "barrier"}, [&] { ++ran; });
  next->wait();
  EXPECT_EQ(ran, 1);
  EXPECT_TRUE(failing->is_completed());
  testing::expect_error([&] { failing->wait(); }, "MPI allreduce failed on rank 0");
  testing::expect_error([&] { failing->wait(); }, "MPI allreduce failed on rank 0");
}

TEST(CommThread, DestructorRunsWhatWasSubmitted) {
  dist::Watchdog watchdog(no_watchdog());
  int ran = 0;
  std::vector<dist::WorkPtr> works;
  {
    dist::mpi::CommThread thread(watchdog);
    for (int i = 0; i < 50; ++i) works.push_back(thread.submit({.name = "task"}, [&] { ++ran; }));
  }
  EXPECT_EQ(ran, 50);
  for (const auto& work : works) EXPECT_TRUE(work->is_completed());
}

}  // namespace
}  // namespace tessera
