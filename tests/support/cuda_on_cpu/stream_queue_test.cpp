// The stream queues of the CPU build of the CUDA backend (stream_queue.h): lasting work holds the stream behind it,
// an advance nested in a queue's own poll runs nothing, detached work runs once, and a host wait stops at what was
// queued when it began.
#include "tests/support/cuda_on_cpu/stream_queue.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

namespace tessera::cuda_on_cpu {
namespace {

using Log = std::vector<std::string>;

TEST(StreamQueue, LastingWorkHoldsLaterWorkUntilItHasFinished) {
  auto queue = StreamQueue::create(/*blocking=*/false);
  Log log;
  bool peers_arrived = false;
  queue->push([&] { log.push_back("a"); });
  const uint64_t lasting = queue->push_lasting([&] { log.push_back("start"); }, [&] {
    log.push_back("poll");
    return peers_arrived;
  });
  const uint64_t last = queue->push([&] { log.push_back("b"); });
  EXPECT_FALSE(queue->advance(last));
  EXPECT_FALSE(queue->advance(last)) << "a query polls again, and returns";
  EXPECT_EQ(log, (Log{"a", "start", "poll", "poll"})) << "started once, polled at each advance";
  EXPECT_FALSE(queue->passed(lasting));
  peers_arrived = true;
  EXPECT_TRUE(queue->advance(last));
  EXPECT_EQ(log, (Log{"a", "start", "poll", "poll", "poll", "b"}));
  EXPECT_TRUE(queue->idle());
}

// Polling s's front (a wait for c's event) runs c's work, and at its end the detached d, which waits for a later
// event of s and so advances s from inside s's own poll. That nested advance must leave s alone: had it run s's
// next items and popped the front, the outer call would pop again, and skip the unfinished collective behind them.
TEST(StreamQueue, AnAdvanceNestedInAQueuesOwnPollRunsNothing) {
  auto c = StreamQueue::create(false);
  auto s = StreamQueue::create(false);
  auto d = StreamQueue::create(false);
  int first = 0, second = 0, past_the_collective = 0;
  const uint64_t c_event = c->push([] {});
  s->push_lasting({}, [c, c_event] { return c->advance(c_event); });
  s->push([&] { ++first; });
  const uint64_t s_event = s->push([&] { ++second; });
  const uint64_t collective = s->push_lasting({}, [] { return false; });  // its peers never arrive
  s->push([&] { ++past_the_collective; });
  d->push_lasting({}, [s, s_event] { return s->advance(s_event); });
  StreamQueue::detach(d);
  d.reset();

  std::lock_guard<QueueLock> lock(queue_lock());
  EXPECT_TRUE(s->advance(s_event));
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  EXPECT_FALSE(s->advance_all());
  EXPECT_FALSE(s->passed(collective));
  EXPECT_EQ(past_the_collective, 0) << "work behind an unfinished collective ran";
}

// A destroyed stream's queue whose front waits for another stream: a device-wide wait runs each of its items once.
TEST(StreamQueue, ADeviceWideWaitRunsDetachedWorkOnce) {
  auto s = StreamQueue::create(false);  // before c, so the wait visits it first
  auto c = StreamQueue::create(false);
  int c_runs = 0, s_runs = 0;
  const uint64_t c_event = c->push([&] { ++c_runs; });
  s->push_lasting({}, [c, c_event] { return c->advance(c_event); });
  s->push([&] { ++s_runs; });
  s->push([&] { ++s_runs; });
  StreamQueue::detach(s);
  s.reset();
  wait_for_every_queue();
  EXPECT_EQ(c_runs, 1);
  EXPECT_EQ(s_runs, 2);
  EXPECT_TRUE(every_queue_idle());
}

// Between its polls a host wait lets other threads queue work (here the third poll queues it, as another thread
// would while the lock is released). The wait ends once what was queued when it began has run, at the fifth poll;
// the later work, which would take 1,000 polls, is not waited for.
TEST(StreamQueue, AHostWaitStopsAtWhatWasQueuedWhenItBegan) {
  auto queue = StreamQueue::create(false);
  int polls = 0, later_polls = 0;
  queue->push_lasting({}, [&] {
    if (++polls == 3) queue->push_lasting({}, [&] { return ++later_polls >= 1000; });
    return polls >= 5;
  });
  queue->wait_through(queue->queued());
  EXPECT_EQ(polls, 5);
  EXPECT_EQ(later_polls, 0);
  EXPECT_FALSE(queue->idle());
}

}  // namespace
}  // namespace tessera::cuda_on_cpu
