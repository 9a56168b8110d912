// The watchdog in one process: its timeout message names the collective, its tag, the rank and the limit; a
// collective that finishes (or polls as done) in time never fires it; TESSERA_COLLECTIVE_TIMEOUT parsing.
// The job-ending path (abort_job under mpirun) is tested end to end by tests/launch/dist_collective_timeout.sh.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "distributed/watchdog.h"
#include "tests/support/expect_error.h"

namespace tessera {
namespace {

using namespace std::chrono_literals;

// Collects the watchdog's message; waits for it with a bound so a broken watchdog fails instead of hanging.
struct TimeoutCatcher {
  std::mutex mutex;
  std::condition_variable fired;
  std::string message;
  int calls = 0;

  dist::WatchdogOptions options(std::chrono::milliseconds timeout) {
    return {.timeout = timeout, .backend = "mpi", .rank = 1, .size = 2, .on_timeout = [this](const std::string& m) {
              std::lock_guard lock(mutex);
              message = m;
              ++calls;
              fired.notify_all();
            }};
  }
  bool wait_fired(std::chrono::seconds limit) {
    std::unique_lock lock(mutex);
    return fired.wait_for(lock, limit, [&] { return calls > 0; });
  }
};

TEST(Watchdog, TimeoutMessageNamesCollectiveTagRankAndLimit) {
  TimeoutCatcher catcher;
  dist::Watchdog watchdog(catcher.options(100ms));
  watchdog.start({.name = "allreduce", .detail = "sum", .dtype = DType::bf16, .numel = 524288,
                  .tag = {.what = "bucket 3", .step = 17}});
  ASSERT_TRUE(catcher.wait_fired(30s)) << "the watchdog never fired";
  for (const char* part : {"collective timeout on rank 1 of 2", "mpi backend", "allreduce(sum) of 524288 x bf16",
                           "1.0 MiB", "bucket 3", "step 17", "TESSERA_COLLECTIVE_TIMEOUT=0.1 s", "has not completed"})
    EXPECT_NE(catcher.message.find(part), std::string::npos) << "missing '" << part << "' in: " << catcher.message;
  std::this_thread::sleep_for(300ms);
  std::lock_guard lock(catcher.mutex);
  EXPECT_EQ(catcher.calls, 1) << "the handler runs once";
}

TEST(Watchdog, FinishedOrPolledDoneCollectivesNeverFire) {
  TimeoutCatcher catcher;
  dist::Watchdog watchdog(catcher.options(500ms));
  for (int i = 0; i < 100; ++i) watchdog.finish(watchdog.start({.name = "barrier"}));
  std::atomic<bool> done{false};
  watchdog.start({.name = "allreduce", .numel = 10}, [&] { return done.load(); });
  done = true;
  // The poll is answered within a few wake-ups; the bound only keeps a broken watchdog from hanging the test.
  for (int i = 0; i < 1000 && watchdog.in_flight() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(watchdog.in_flight(), 0u);
  std::this_thread::sleep_for(1s);  // twice the timeout: nothing is in flight, so nothing fires
  std::lock_guard lock(catcher.mutex);
  EXPECT_EQ(catcher.calls, 0) << catcher.message;
}

// A poll that never returns (a cudaEventQuery blocked behind a driver call waiting for a stuck GPU) holds the sweep,
// so the collective's own timeout can never fire: the monitor ends the job, naming the collective.
TEST(Watchdog, APollThatNeverReturnsEndsTheJob) {
  TimeoutCatcher catcher;
  dist::WatchdogOptions options = catcher.options(60s);  // the collective's own timeout: far away
  options.stuck_poll_limit = 200ms;
  dist::Watchdog watchdog(options);
  std::mutex mutex;
  std::condition_variable released;
  bool release = false;
  watchdog.start({.name = "allreduce", .detail = "sum", .dtype = DType::f32, .numel = 1024,
                  .tag = {.what = "bucket 0", .step = 5}},
                 [&] {
                   std::unique_lock lock(mutex);
                   released.wait_for(lock, 30s, [&] { return release; });
                   return true;
                 });
  const bool fired = catcher.wait_fired(30s);
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  released.notify_all();
  ASSERT_TRUE(fired) << "the monitor never fired";
  for (const char* part : {"rank 1 of 2", "mpi backend", "allreduce(sum) of 1024 x f32", "bucket 0", "step 5",
                           "has not returned after", "stuck"})
    EXPECT_NE(catcher.message.find(part), std::string::npos) << "missing '" << part << "' in: " << catcher.message;
  std::this_thread::sleep_for(300ms);
  std::lock_guard lock(catcher.mutex);
  EXPECT_EQ(catcher.calls, 1) << "the handler runs once";
}

TEST(Watchdog, ZeroTimeoutWatchesNothing) {
  TimeoutCatcher catcher;
  dist::Watchdog watchdog(catcher.options(0ms));
  watchdog.start({.name = "allreduce"});
  EXPECT_EQ(watchdog.in_flight(), 0u);
}

TEST(Watchdog, TimeoutFromEnvironment) {
  using dist::resolve_collective_timeout;
  unsetenv("TESSERA_COLLECTIVE_TIMEOUT");
  EXPECT_EQ(resolve_collective_timeout(-1ms), 600s);
  EXPECT_EQ(resolve_collective_timeout(1500ms), 1500ms) << "an explicit timeout wins";
  setenv("TESSERA_COLLECTIVE_TIMEOUT", "2.5", 1);
  EXPECT_EQ(resolve_collective_timeout(-1ms), 2500ms);
  setenv("TESSERA_COLLECTIVE_TIMEOUT", "0", 1);
  EXPECT_EQ(resolve_collective_timeout(-1ms), 0ms);
  for (const char* bad : {"ten", "-3", "5s"}) {
    setenv("TESSERA_COLLECTIVE_TIMEOUT", bad, 1);
    testing::expect_error([] { resolve_collective_timeout(-1ms); }, {"TESSERA_COLLECTIVE_TIMEOUT", bad});
  }
  unsetenv("TESSERA_COLLECTIVE_TIMEOUT");
}

}  // namespace
}  // namespace tessera
