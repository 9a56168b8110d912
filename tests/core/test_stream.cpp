// Streams, events and pinned memory (core/stream.h): a copy queued on a side stream is seen by the compute stream
// once it waits for the copy's event, and not necessarily before; pinned host memory may be reused only after the
// copy from it has passed. On the test device every stream's work runs as late as a GPU may run it
// (tests/support/emulated_gpu_backend.h), so the "not before", "overwritten while compute still reads" and "reused
// too early" cases are shown to fail there:
// the same checks then prove the loader and the staging code wait where they must. On the CPU everything runs at
// once; on a GPU the real streams run.
#include <gtest/gtest.h>

#include <vector>

#include "core/stream.h"
#include "tests/support/test_device.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

bool on_accelerator() { return !default_device().is_cpu(); }
bool late_test_device() { return default_device().is_test() && testing::test_device_runs_cpu_kernels(); }
bool late_side_streams() { return late_test_device() && !testing::test_device_runs_compute_late(); }
bool late_compute() { return late_test_device() && testing::test_device_runs_compute_late(); }

std::vector<float> values(int64_t n, float base) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = base + static_cast<float>(i);
  return v;
}

Tensor on_host(const std::vector<float>& v) { return tensor(v, {}, TensorOptions{.device = Device()}); }

Tensor pinned_with(const std::vector<float>& v) {
  const Device device = default_device();
  Tensor host = on_host(v);
  return on_accelerator() ? host.pin_memory(device) : host;
}

TEST(Stream, PinnedMemoryIsAHostTensorThatKnowsItIsPinned) {
  if (!on_accelerator()) GTEST_SKIP() << "pinned memory is for an accelerator";
  Tensor pinned = empty_pinned({3, 4}, DType::f32, default_device());
  EXPECT_TRUE(pinned.is_pinned());
  EXPECT_TRUE(pinned.device().is_cpu());
  EXPECT_FALSE(on_host(values(3, 0)).is_pinned());
  Tensor copy = on_host(values(12, 1)).view({3, 4}).pin_memory(default_device());
  EXPECT_TRUE(copy.is_pinned());
  EXPECT_EQ(copy.to_vector<float>(), values(12, 1));
  EXPECT_TRUE(copy.pin_memory(default_device()).is_same(copy));
  EXPECT_THROW(empty_pinned({2}, DType::f32, Device()), Error);
}

TEST(Stream, ACopyOnASideStreamIsSeenAfterTheComputeStreamWaitsForItsEvent) {
  const Device device = default_device();
  Stream copies = Stream::create(device);
  Event copied(device);
  Tensor source = pinned_with(values(1000, 3));
  Tensor on_device;
  {
    StreamGuard guard(copies);
    if (on_accelerator()) {
      EXPECT_EQ(Stream::current(device).handle(), copies.handle());
    }
    on_device = source.to(device, /*non_blocking=*/true);
    copied.record();
  }
  EXPECT_TRUE(Stream::current(device).is_compute());
  copied.wait();
  EXPECT_EQ((on_device * 2.0f).to_vector<float>(), (on_host(values(1000, 3)) * 2.0f).to_vector<float>());
  copied.synchronize();
  EXPECT_TRUE(copied.query());
}

TEST(Stream, WithoutTheWaitTheComputeStreamMayReadBeforeTheCopy) {
  if (!late_side_streams()) GTEST_SKIP() << "only the test device runs side streams as late as a GPU may";
  const Device device = default_device();
  Stream copies = Stream::create(device);
  Event copied(device);
  Tensor target = zeros({8}, {.device = device});
  Tensor source = pinned_with(values(8, 1));
  {
    StreamGuard guard(copies);
    target.copy_(source.to(device, true));
    copied.record();
  }
  EXPECT_EQ(target.to_vector<float>(), std::vector<float>(8, 0.0f));  // no wait: the copy has not run yet
  copied.wait();
  EXPECT_EQ(target.to_vector<float>(), values(8, 1));
}

TEST(Stream, RefillingAPinnedBufferBeforeItsCopyPassedChangesWhatTheCopyReads) {
  if (!late_side_streams()) GTEST_SKIP() << "only the test device runs side streams as late as a GPU may";
  const Device device = default_device();
  Stream copies = Stream::create(device);
  Event copied(device);
  Tensor source = pinned_with(values(8, 1));
  Tensor early, safe;
  {
    StreamGuard guard(copies);
    early = source.to(device, true);
    copied.record();
  }
  source.fill_(-1.0f);  // too early: the copy has not passed
  copied.wait();
  EXPECT_EQ(early.to_vector<float>(), std::vector<float>(8, -1.0f));
  {
    StreamGuard guard(copies);
    safe = source.to(device, true);
    copied.record();
  }
  copied.synchronize();  // the right way: wait for the copy's event, then refill
  source.fill_(5.0f);
  EXPECT_EQ(safe.to_vector<float>(), std::vector<float>(8, -1.0f));
}

TEST(Stream, ANonBlockingCopyToTheHostLandsInPinnedMemoryOnceItsEventPassed) {
  const Device device = default_device();
  Tensor on_device = on_host(values(64, 7)).to(device);
  Event copied(device);
  Tensor host = on_device.to(Device(), /*non_blocking=*/true);
  copied.record();
  EXPECT_EQ(host.is_pinned(), on_accelerator());
  copied.synchronize();
  EXPECT_EQ(host.to_vector<float>(), values(64, 7));
}

TEST(Stream, StreamsQueueInOrderAndSynchronizeWaitsForTheirWork) {
  const Device device = default_device();
  Stream side = Stream::create(device);
  Tensor x = zeros({16}, {.device = device});
  Event zeroed(device);
  zeroed.record();  // the zeros are compute work: the side stream must wait for them before writing x
  {
    StreamGuard guard(side);
    zeroed.wait();
    x.fill_(1.0);
    x.mul_(3.0);
  }
  side.synchronize();
  EXPECT_EQ(x.to_vector<float>(), std::vector<float>(16, 3.0f));
}

// The race the other way round: compute work queued before a side stream writes its input may run after the write
// unless the side stream waits for compute's event (a DDP reducer's stream copying gradients, a loader refilling a
// batch buffer). The test device can run compute as late as a GPU may (*.test_device_late_compute), and there the
// missing wait shows.
TEST(Stream, ASideStreamThatDoesNotWaitForComputeMayOverwriteWhatComputeStillReads) {
  const Device device = default_device();
  Stream side = Stream::create(device);
  auto doubled_then_overwritten = [&](bool wait_for_compute) {
    Tensor x = on_host(values(8, 1)).to(device);
    Stream::compute(device).synchronize();  // x holds its values; what follows on compute is still queued
    Tensor doubled = x * 2.0f;              // reads x
    Event read(device);
    read.record();
    {
      StreamGuard guard(side);
      if (wait_for_compute) read.wait();
      x.fill_(100.0);
    }
    side.synchronize();
    return doubled.to_vector<float>();
  };
  EXPECT_EQ(doubled_then_overwritten(true), (on_host(values(8, 1)) * 2.0f).to_vector<float>());
  if (late_compute()) {
    EXPECT_EQ(doubled_then_overwritten(false), std::vector<float>(8, 200.0f));
  }
}

// A stream may go while work queued elsewhere still waits for one of its events (CUDA allows it: the event keeps
// what it marked), and another stream may then be made in its place.
TEST(Stream, AnEventOfADestroyedStreamCanStillBeWaitedFor) {
  const Device device = default_device();
  Tensor x = on_host(values(4, 1)).to(device);
  Event made(device);
  made.record();
  Tensor z;
  {
    Stream side = Stream::create(device);
    Event done(device);
    {
      StreamGuard guard(side);
      made.wait();
      x.mul_(2.0f);
      done.record();
    }
    done.wait();
    z = x * 3.0f;
  }
  Stream other = Stream::create(device);
  EXPECT_EQ(z.to_vector<float>(), (on_host(values(4, 1)) * 6.0f).to_vector<float>());
}

// A destroyed stream's blocks are handed out again only in compute's order (the CUDA allocator retires them into
// the compute stream's cache), so a block freed after its stream went, while queued compute work still reads it,
// is not refilled by another stream first.
TEST(Stream, ADestroyedStreamsBlocksAreNotReusedUnderQueuedComputeWork) {
  const Device device = default_device();
  Tensor z;
  {
    Tensor y;
    {
      Stream side = Stream::create(device);
      {
        StreamGuard guard(side);
        y = on_host(values(4, 1)).to(device);
      }
      side.synchronize();
    }
    z = y * 3.0f;  // reads y: queued, on a device that runs compute late
  }
  Stream next = Stream::create(device);
  Tensor w;
  {
    StreamGuard guard(next);
    w = on_host(std::vector<float>(4, 100.0f)).to(device);
  }
  next.synchronize();
  EXPECT_EQ(z.to_vector<float>(), (on_host(values(4, 1)) * 3.0f).to_vector<float>());
}

// A tensor read on a side stream and let go at once: with record_stream its block is not handed out again before
// the side stream's read has run (torch's Tensor.record_stream). Without it, on a device that runs side streams
// late, a tensor made next on compute takes the block, and the late read sees its values.
TEST(Stream, ATensorRecordedOnASideStreamIsNotReusedBeforeThatStreamsWork) {
  const Device device = default_device();
  Stream side = Stream::create(device);
  auto read_on_side_then_let_go = [&](bool record) {
    Tensor doubled;
    Event done(device);
    {
      Tensor x = on_host(values(256, 1)).to(device);
      Event made(device);
      made.record();
      {
        StreamGuard guard(side);
        made.wait();
        doubled = x * 2.0f;  // reads x on the side stream
        done.record();
      }
      if (record) x.record_stream(side);
    }  // x's last handle goes, on compute
    Tensor next = full({256}, 1000.0, {.device = device});  // compute: may take x's block
    done.wait();
    return doubled.to_vector<float>();
  };
  EXPECT_EQ(read_on_side_then_let_go(true), (on_host(values(256, 1)) * 2.0f).to_vector<float>());
  if (late_side_streams()) {
    EXPECT_EQ(read_on_side_then_let_go(false), std::vector<float>(256, 2000.0f))
        << "the late read should have seen the reused block: this test could not catch a missing record_stream";
  }
}

TEST(Stream, RecordStreamNeedsAStreamOfTheTensorsDevice) {
  if (!on_accelerator()) GTEST_SKIP() << "one device only";
  Tensor x = zeros({4}, {.device = default_device()});
  x.record_stream(Stream::compute(default_device()));  // its own stream: allowed, nothing to wait for
  EXPECT_THROW(x.record_stream(Stream::compute(Device())), Error);
}

TEST(Stream, GuardsNestAndRestoreTheStreamBefore) {
  const Device device = default_device();
  Stream a = Stream::create(device), b = Stream::create(device);
  {
    StreamGuard outer(a);
    {
      StreamGuard inner(b);
      if (on_accelerator()) {
        EXPECT_EQ(Stream::current(device).handle(), b.handle());
      }
    }
    if (on_accelerator()) {
      EXPECT_EQ(Stream::current(device).handle(), a.handle());
    }
  }
  EXPECT_TRUE(Stream::current(device).is_compute());
}

}  // namespace
}  // namespace tessera
