// The CUDA backend's own machinery, through the Backend interface: the caching allocator (reuse, split and merge,
// statistics, empty_cache, the out-of-memory report), copies, events, a destroyed stream's blocks, and device-side
// index checks. On a machine without a GPU only the "asked for a GPU it cannot get" behaviour runs, and the rest
// skips or runs on the CUDA backend compiled for the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "kernels/backend.h"
#include "kernels/device_info.h"
#include "tests/support/cuda_on_cpu/cuda_on_cpu.h"
#include "tests/support/expect_error.h"
#include "tests/support/test_device.h"

namespace tessera::kernels {
namespace {

// cuda:0, or under TESSERA_TEST_DEVICE_BACKEND=cuda_on_cpu (kernels.CudaBackendTest.cuda_on_cpu) the CUDA backend
// compiled for the CPU (tests/support/cuda_on_cpu/README.md), so CI runs these too.
class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tessera::testing::test_device_runs_cpu_kernels()) {
      backend_ = &tessera::testing::cuda_on_cpu_backend(cpu_backend());
    } else {
      if (cuda_device_count() == 0) GTEST_SKIP() << "no GPU on this machine";
      backend_ = &cuda_backend(0);
    }
    backend_->synchronize();
  }
  void TearDown() override {
    for (void* p : allocated_) backend_->deallocate(p, 0);
  }
  // Device buffers for an index_select of `index` from `rows` x 4 zeros into `rows` x index.size(), freed at the end.
  struct IndexSelect {
    void *x, *out, *idx;
  };
  IndexSelect index_select_buffers(const std::vector<int64_t>& index, int64_t rows = 1) {
    const size_t n = index.size(), in_bytes = static_cast<size_t>(rows) * 4 * sizeof(float);
    IndexSelect b{backend_->allocate(in_bytes), backend_->allocate(static_cast<size_t>(rows) * n * sizeof(float)),
                  backend_->allocate(n * sizeof(int64_t))};
    allocated_.insert(allocated_.end(), {b.x, b.out, b.idx});
    backend_->memset_zero(b.x, in_bytes);
    backend_->copy_from_host(b.idx, index.data(), n * sizeof(int64_t));
    return b;
  }
  Backend* backend_ = nullptr;
  std::vector<void*> allocated_;
};

TEST(CudaBackendWithoutGpu, AskingForAMissingGpuIsAClearError) {
  const int devices = cuda_device_count();
  testing::expect_error([&] { cuda_backend(devices); }, {"cuda:" + std::to_string(devices), "requested"});
  testing::expect_error([&] { cuda_backend(-1); }, {"cuda:-1", "requested"});
}

TEST_F(CudaBackendTest, NameAndRoundTripThroughDeviceMemory) {
  EXPECT_STREQ(backend_->name(), "cuda:0");
  std::vector<float> host(1000), back(1000, -1.0f);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i) * 0.5f;
  void* a = backend_->allocate(host.size() * sizeof(float));
  void* b = backend_->allocate(host.size() * sizeof(float));
  backend_->copy_from_host(a, host.data(), host.size() * sizeof(float));
  backend_->copy(b, a, host.size() * sizeof(float));
  backend_->copy_to_host(back.data(), b, back.size() * sizeof(float));
  EXPECT_EQ(back, host);
  backend_->memset_zero(b, back.size() * sizeof(float));
  backend_->copy_to_host(back.data(), b, back.size() * sizeof(float));
  EXPECT_EQ(back, std::vector<float>(1000, 0.0f));
  backend_->deallocate(a, host.size() * sizeof(float));
  backend_->deallocate(b, host.size() * sizeof(float));
}

TEST_F(CudaBackendTest, FreedBlocksAreReusedAndCounted) {
  const MemoryStats before = backend_->memory_stats();
  void* first = backend_->allocate(3000);
  const MemoryStats during = backend_->memory_stats();
  EXPECT_EQ(during.allocated_bytes, before.allocated_bytes + 3072);  // rounded to 512 bytes
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 512, 0u);
  backend_->deallocate(first, 3000);
  void* again = backend_->allocate(2900);  // same size class on the same stream: the same block
  EXPECT_EQ(again, first);
  backend_->deallocate(again, 2900);
  EXPECT_EQ(backend_->memory_stats().allocated_bytes, before.allocated_bytes);
  EXPECT_GE(backend_->memory_stats().peak_allocated_bytes, during.allocated_bytes);
}

TEST_F(CudaBackendTest, SplitBlocksMergeBackAndEmptyCacheReturnsWholeSegments) {
  backend_->empty_cache();
  const MemoryStats start = backend_->memory_stats();
  EXPECT_EQ(start.cached_bytes, 0u);
  std::vector<void*> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(backend_->allocate(100 << 10));  // eight 100 KiB from one segment
  for (int i = 1; i < 8; ++i) EXPECT_EQ(static_cast<char*>(blocks[i]) - static_cast<char*>(blocks[i - 1]), 100 << 10);
  for (void* b : blocks) backend_->deallocate(b, 100 << 10);
  EXPECT_EQ(backend_->memory_stats().allocated_bytes, start.allocated_bytes);
  EXPECT_EQ(backend_->memory_stats().cached_bytes, size_t{2} << 20);  // merged back into one free 2 MiB segment
  void* whole = backend_->allocate(1 << 20);  // fits in the merged segment: no new cudaMalloc
  EXPECT_EQ(whole, blocks[0]);
  backend_->deallocate(whole, 1 << 20);
  backend_->empty_cache();
  EXPECT_EQ(backend_->memory_stats().cached_bytes, 0u);
}

TEST_F(CudaBackendTest, OutOfMemoryNamesRequestCachedUsedAndFree) {
  const size_t huge = size_t{1} << 50;  // 1 PiB
  testing::expect_error([&] { backend_->allocate(huge); },
                        {"CUDA out of memory on cuda:0", "tried to allocate", "in use", "cached", "free"});
  void* ok = backend_->allocate(1024);  // the allocator still works afterwards
  backend_->deallocate(ok, 1024);
}

TEST_F(CudaBackendTest, EventsOrderTheStreamAndTheHost) {
  EventHandle event = backend_->create_event();
  std::vector<int64_t> host(1 << 20, 7), back(1 << 20);
  void* d = backend_->allocate(host.size() * sizeof(int64_t));
  backend_->copy_from_host(d, host.data(), host.size() * sizeof(int64_t));
  backend_->record_event(event);
  backend_->wait_event(event);
  backend_->synchronize_event(event);
  backend_->copy_to_host(back.data(), d, back.size() * sizeof(int64_t));
  EXPECT_EQ(back, host);
  backend_->deallocate(d, host.size() * sizeof(int64_t));
  backend_->destroy_event(event);
}

// CUDA refuses host queries of an event last recorded into a captured graph (cudaErrorCapturedEvent), after the
// capture too, until it is recorded again outside one. The CPU build's runtime refuses the same, so code that would
// query such an event fails in CI as it would on a GPU.
TEST_F(CudaBackendTest, AnEventRecordedIntoACaptureIsNotQueriedUntilRecordedAgain) {
  EventHandle event = backend_->create_event();
  void* d = backend_->allocate(1024);
  backend_->begin_capture();
  backend_->memset_zero(d, 1024);
  backend_->record_event(event);
  GraphHandle graph = backend_->end_capture();
  EXPECT_THROW(backend_->query_event(event), std::exception);
  EXPECT_THROW(backend_->synchronize_event(event), std::exception);
  backend_->replay_graph(graph);
  backend_->record_event(event);
  backend_->synchronize_event(event);
  EXPECT_TRUE(backend_->query_event(event));
  backend_->destroy_graph(graph);
  backend_->deallocate(d, 1024);
  backend_->destroy_event(event);
}

// A side stream that waits for an event recorded into a capture joins it on a GPU (a fork): its later work is
// captured, not run, and the capture ends only once it is joined back (else cudaErrorStreamCaptureUnjoined). The
// CPU build cannot join streams: it refuses the fork and fails the capture, instead of running the side stream's
// work at once and ending the capture as if nothing had forked.
TEST_F(CudaBackendTest, CpuBuildRefusesAStreamForkedFromACapture) {
  if (tessera::testing::test_device_runs_cpu_kernels()) GTEST_SKIP() << "checks the CPU build's runtime only";
  EventHandle forked = backend_->create_event();
  StreamHandle side = backend_->create_stream();
  void* d = backend_->allocate(1024);
  backend_->begin_capture();
  backend_->memset_zero(d, 1024);
  backend_->record_event(forked);
  backend_->set_current_stream(side);
  testing::expect_error([&] { backend_->wait_event(forked); }, {"cudaStreamWaitEvent", "StreamCaptureUnsupported"});
  backend_->set_current_stream(nullptr);
  testing::expect_error([&] { backend_->end_capture(); }, {"CUDA graph capture", "failed"});
  backend_->record_event(forked);  // outside a capture again: the host may wait for it
  backend_->synchronize_event(forked);
  backend_->deallocate(d, 1024);
  backend_->destroy_stream(side);
  backend_->destroy_event(forked);
}

// A copy from pinned memory captured into a graph reads that memory at every replay: the block stays out of the
// pinned cache's reuse until the graph is destroyed, even after its tensor is freed.
TEST_F(CudaBackendTest, PinnedMemoryACapturedCopyReadsIsKeptUntilTheGraphIsDestroyed) {
  constexpr size_t n = 1024, bytes = n * sizeof(int32_t);
  void* d = backend_->allocate(bytes);
  auto* pinned = static_cast<int32_t*>(backend_->allocate_pinned_host(bytes));
  std::fill(pinned, pinned + n, 7);
  backend_->begin_capture();
  backend_->copy_from_host_async(d, pinned, bytes);
  GraphHandle graph = backend_->end_capture();
  backend_->free_pinned_host(pinned, bytes);  // the tensor is gone; the graph still reads its block
  void* other = backend_->allocate_pinned_host(bytes);
  EXPECT_NE(other, pinned) << "refilling the block would change what every replay copies";
  backend_->empty_cache();
  backend_->replay_graph(graph);
  std::vector<int32_t> back(n);
  backend_->copy_to_host(back.data(), d, bytes);
  EXPECT_EQ(back, std::vector<int32_t>(n, 7)) << "empty_cache gave the block back to the system";
  backend_->destroy_graph(graph);
  void* again = backend_->allocate_pinned_host(bytes);
  EXPECT_EQ(again, pinned) << "the destroyed graph let its block go";
  backend_->free_pinned_host(again, bytes);
  backend_->free_pinned_host(other, bytes);
  backend_->deallocate(d, bytes);
}

// copy_from_host promises the caller its buffer back at return, pageable or pinned: a GPU reads pinned memory when
// the copy runs, so the backend waits for it there.
TEST_F(CudaBackendTest, CopyFromHostIsDoneWithTheBufferAtReturn) {
  constexpr size_t n = 4096, bytes = n * sizeof(int32_t);
  std::vector<int32_t> pageable(n, 3), back(n);
  auto* pinned = static_cast<int32_t*>(backend_->allocate_pinned_host(bytes));
  std::fill(pinned, pinned + n, 5);
  void* from_pageable = backend_->allocate(bytes);
  void* from_pinned = backend_->allocate(bytes);
  backend_->copy_from_host(from_pageable, pageable.data(), bytes);
  backend_->copy_from_host(from_pinned, pinned, bytes);
  std::fill(pageable.begin(), pageable.end(), -1);
  std::fill(pinned, pinned + n, -1);
  backend_->copy_to_host(back.data(), from_pageable, bytes);
  EXPECT_EQ(back, std::vector<int32_t>(n, 3));
  backend_->copy_to_host(back.data(), from_pinned, bytes);
  EXPECT_EQ(back, std::vector<int32_t>(n, 5));
  backend_->deallocate(from_pageable, bytes);
  backend_->deallocate(from_pinned, bytes);
  backend_->free_pinned_host(pinned, bytes);
}

// The same promise at every size, on both of copy_from_host's paths: up to 1 KiB the bytes travel as a kernel's
// arguments (kernels/cuda/host_upload.cu), above it by cudaMemcpyAsync (waited for from pinned memory). Odd sizes at
// an odd device address write exactly their bytes: the guard bytes either side stay zero.
TEST_F(CudaBackendTest, CopyFromHostAtEverySizeWritesExactlyItsBytes) {
  for (size_t bytes : {size_t{1}, size_t{3}, size_t{1023}, size_t{1024}, size_t{1025}, size_t{16} << 10}) {
    SCOPED_TRACE(std::to_string(bytes) + " bytes");
    const size_t total = bytes + 2;
    auto value = [](size_t i) { return static_cast<uint8_t>(i * 7 + 1); };
    std::vector<uint8_t> pageable(bytes), back(total);
    for (size_t i = 0; i < bytes; ++i) pageable[i] = value(i);
    auto* pinned = static_cast<uint8_t*>(backend_->allocate_pinned_host(bytes));
    std::copy(pageable.begin(), pageable.end(), pinned);
    for (uint8_t* source : {pageable.data(), pinned}) {
      auto* d = static_cast<uint8_t*>(backend_->allocate(total));
      backend_->memset_zero(d, total);
      backend_->copy_from_host(d + 1, source, bytes);
      std::fill(source, source + bytes, uint8_t{0xee});  // the caller's buffer is its own again at return
      backend_->copy_to_host(back.data(), d, total);
      EXPECT_EQ(back.front(), 0) << "a byte before the copy was written";
      EXPECT_EQ(back.back(), 0) << "a byte after the copy was written";
      for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(back[i + 1], value(i)) << "byte " << i;
      backend_->deallocate(d, total);
    }
    backend_->free_pinned_host(pinned, bytes);
  }
}

// A side stream's cached blocks join the compute stream's cache when it is destroyed (retire_stream): only once
// the work queued on it has run, or the compute stream's new data is overwritten by the old copy.
TEST_F(CudaBackendTest, BlocksOfADestroyedStreamAreReusedAfterItsWork) {
  constexpr size_t n = 1 << 17, bytes = n * sizeof(float);  // 512 KiB: the small pool
  constexpr size_t source_bytes = size_t{12} << 20;             // the large pool, so the small one is empty
  const std::vector<float> old_values(n, 1.0f), new_values(n, 2.0f);
  std::vector<float> back(n);
  backend_->empty_cache();
  void* source = backend_->allocate(source_bytes);
  backend_->copy_from_host(source, old_values.data(), bytes);
  EventHandle ready = backend_->create_event();
  backend_->record_event(ready);
  StreamHandle side = backend_->create_stream();
  backend_->set_current_stream(side);
  backend_->wait_event(ready);
  void* scratch = backend_->allocate(bytes);
  backend_->copy(scratch, source, bytes);  // queued on the side stream
  backend_->deallocate(scratch, bytes);    // back to the side stream's cache, reused in its order
  backend_->set_current_stream(nullptr);
  backend_->destroy_stream(side);
  void* reused = backend_->allocate(bytes);
  ASSERT_EQ(reused, scratch) << "the compute stream should take over the destroyed stream's block";
  backend_->copy_from_host(reused, new_values.data(), bytes);
  backend_->copy_to_host(back.data(), reused, bytes);
  EXPECT_EQ(back, new_values);
  backend_->deallocate(reused, bytes);
  backend_->deallocate(source, source_bytes);
  backend_->destroy_event(ready);
}

// The CPU build's streams run their work only when something needs it (tests/support/cuda_on_cpu/stream_queue.h):
// a host that reads a pinned buffer before the copy into it has passed sees the old bytes, every time. Without
// that, the ordering checks of the cuda_on_cpu suites would prove nothing. (On a GPU the outcome is a race.)
TEST_F(CudaBackendTest, CpuBuildRunsQueuedWorkOnlyWhenNeeded) {
  if (tessera::testing::test_device_runs_cpu_kernels()) GTEST_SKIP() << "checks the CPU build's streams only";
  constexpr size_t n = 1024, bytes = n * sizeof(int32_t);
  const std::vector<int32_t> values(n, 9);
  auto* pinned = static_cast<int32_t*>(backend_->allocate_pinned_host(bytes));
  std::fill(pinned, pinned + n, 0);
  void* d = backend_->allocate(bytes);
  backend_->copy_from_host(d, values.data(), bytes);
  EventHandle copied = backend_->create_event();
  backend_->copy_to_host_async(pinned, d, bytes);
  backend_->record_event(copied);
  EXPECT_EQ(pinned[0], 0);  // queued, not run
  backend_->synchronize_event(copied);
  EXPECT_EQ(std::vector<int32_t>(pinned, pinned + n), values);
  backend_->destroy_event(copied);
  backend_->deallocate(d, bytes);
  backend_->free_pinned_host(pinned, bytes);
}

TEST_F(CudaBackendTest, BadIndexIsRaisedAtTheNextSynchronisation) {
  const std::vector<int64_t> index = {0, 2, 9, 1, 12};
  const auto [x, out, idx] = index_select_buffers(index, 3);
  const IndexBounds bounds{.size = 4, .op = "index_select", .what = "index", .context = "dimension 1 with size 4"};
  backend_->index_select(DType::f32, RowLayout{3, 4, 1}, out, x, idx, static_cast<int64_t>(index.size()), bounds);
  testing::expect_error([&] { backend_->synchronize(); },
                        {"index_select: index 9 (at position 2) is out of range for dimension 1 with size 4"});
  backend_->synchronize();  // reported once: the slot is rearmed
}

// The check's slots are shared by all streams. A side stream that synchronises first (user code under a
// StreamGuard) must not read and rearm the compute stream's slot before the compute kernel has run: the error is
// raised there, naming its op, and not lost (nor later pinned on another op).
TEST_F(CudaBackendTest, ABadIndexOnComputeIsNotLostWhenASideStreamSynchronisesFirst) {
  const std::vector<int64_t> index = {0, 9};
  const auto [x, out, idx] = index_select_buffers(index);
  const IndexBounds bounds{.size = 4, .op = "index_select", .what = "index", .context = "dimension 0 with size 4"};
  backend_->index_select(DType::f32, RowLayout{1, 4, 1}, out, x, idx, static_cast<int64_t>(index.size()), bounds);
  StreamHandle side = backend_->create_stream();
  backend_->set_current_stream(side);
  testing::expect_error([&] { backend_->synchronize(); },
                        {"index_select: index 9 (at position 1) is out of range for dimension 0 with size 4"});
  backend_->set_current_stream(nullptr);
  backend_->destroy_stream(side);
  backend_->synchronize();  // reported once
}

// The other way round: the compute stream's synchronisation rearms the slots in its own order, after the host has
// read them. A side stream's index kernel queued next must not run before that rearming (which would wipe its error)
// while the host never waits for it: the side stream waits for the rearming on the device.
TEST_F(CudaBackendTest, ABadIndexOnASideStreamIsNotWipedByComputesRearming) {
  const std::vector<int64_t> index = {9, 7};
  const auto [x, out, idx] = index_select_buffers(index);
  const IndexBounds bounds{.size = 4, .op = "index_select", .what = "index", .context = "dimension 0 with size 4"};
  const auto* second = static_cast<const int64_t*>(idx) + 1;
  backend_->index_select(DType::f32, RowLayout{1, 4, 1}, out, x, idx, 1, bounds);
  testing::expect_error([&] { backend_->synchronize(); },
                        {"index_select: index 9 (at position 0) is out of range for dimension 0 with size 4"});
  StreamHandle side = backend_->create_stream();
  backend_->set_current_stream(side);
  backend_->index_select(DType::f32, RowLayout{1, 4, 1}, out, x, second, 1, bounds);
  EventHandle queued = backend_->create_event();
  backend_->record_event(queued);
  backend_->synchronize_event(queued);  // runs the side stream's kernel; reads no slot
  backend_->set_current_stream(nullptr);
  testing::expect_error([&] { backend_->synchronize(); },
                        {"index_select: index 7 (at position 0) is out of range for dimension 0 with size 4"});
  backend_->destroy_event(queued);
  backend_->destroy_stream(side);
}

// A thread of its own (a data-loading or user thread) on its own stream: its bad index is raised by its own
// synchronisation, and only once; the main thread's next one finds nothing.
TEST_F(CudaBackendTest, ABadIndexOnAnotherThreadIsRaisedThere) {
  const std::vector<int64_t> index = {3, 5};
  const auto [x, out, idx] = index_select_buffers(index);
  const IndexBounds bounds{.size = 4, .op = "embedding", .what = "index", .context = "an embedding of 4 rows"};
  EventHandle uploaded = backend_->create_event();  // the side stream is not ordered after the compute stream
  backend_->record_event(uploaded);
  std::thread worker([&] {
    StreamHandle side = backend_->create_stream();
    backend_->set_current_stream(side);
    backend_->wait_event(uploaded);
    backend_->index_select(DType::f32, RowLayout{1, 4, 1}, out, x, idx, static_cast<int64_t>(index.size()), bounds);
    testing::expect_error([&] { backend_->synchronize(); },
                          {"embedding: index 5 (at position 1) is out of range for an embedding of 4 rows"});
    backend_->set_current_stream(nullptr);
    backend_->destroy_stream(side);
  });
  worker.join();
  backend_->synchronize();
  backend_->destroy_event(uploaded);
}

}  // namespace
}  // namespace tessera::kernels
