// The CUDA caching allocator's bookkeeping (kernels/cuda/caching_allocator.h) over the fake runtime: segment sizes,
// best-fit splitting and merging, per-stream reuse, the out-of-memory retry and message, and graph pools. What the
// fake cannot show (real device memory, cudaMalloc's own alignment and timing) is left to the GPU suites.
#include <gtest/gtest.h>

#include "kernels/common/check.h"
#include "kernels/cuda/caching_allocator.h"
#include "tests/kernels/fake_cuda_runtime/fake_cuda_runtime.h"

namespace tessera::kernels::cuda {
namespace {

namespace fake = testing::fake_cuda;
constexpr size_t KiB = 1 << 10, MiB = 1 << 20;

class CachingAllocatorOnFakeRuntime : public ::testing::Test {
 protected:
  void SetUp() override { fake::reset(1024 * MiB); }
  CachingAllocator allocator{0};
  char* allocate(size_t n, cudaStream_t stream = nullptr) {
    return static_cast<char*>(allocator.allocate(n, stream));
  }
};

TEST_F(CachingAllocatorOnFakeRuntime, SmallRequestsRoundTo512AndShareTwoMiBSegments) {
  char* a = allocate(1);
  char* b = allocate(513);
  char* c = allocate(0);
  EXPECT_EQ(fake::counts().mallocs, 1);
  EXPECT_EQ(fake::counts().device_bytes_in_use, 2 * MiB);
  EXPECT_EQ(b, a + 512);  // carved one after the other from the segment's front
  EXPECT_EQ(c, b + 1024);
  const MemoryStats stats = allocator.stats();
  EXPECT_EQ(stats.allocated_bytes, 512 + 1024 + 512u);
  EXPECT_EQ(stats.cached_bytes, 2 * MiB - stats.allocated_bytes);
  EXPECT_EQ(stats.allocation_count, 3u);
}

TEST_F(CachingAllocatorOnFakeRuntime, MediumRequestsShareTwentyMiBSegmentsAndLargeOnesGetTheirOwn) {
  char* medium = allocate(5 * MiB);
  char* second = allocate(5 * MiB);
  EXPECT_EQ(fake::counts().mallocs, 1);
  EXPECT_EQ(fake::counts().device_bytes_in_use, 20 * MiB);
  EXPECT_EQ(second, medium + 5 * MiB);
  allocate(11 * MiB + 1);  // above 10 MiB: a segment of its own, rounded to 2 MiB
  EXPECT_EQ(fake::counts().mallocs, 2);
  EXPECT_EQ(fake::counts().device_bytes_in_use, 20 * MiB + 12 * MiB);
}

// Both ways round: the free sets are ordered by stream address, so a lookup that ignored the stream would find
// another stream's block in one direction only.
TEST_F(CachingAllocatorOnFakeRuntime, AFreedBlockIsReusedOnItsOwnStreamOnly) {
  const cudaStream_t streams[2] = {fake::make_stream(), fake::make_stream()};
  for (int from = 0; from < 2; ++from) {
    const cudaStream_t mine = streams[from], other = streams[1 - from];
    CachingAllocator fresh(0);
    void* first = fresh.allocate(4 * KiB, mine);
    fresh.deallocate(first);
    const int mallocs = fake::counts().mallocs;
    EXPECT_NE(fresh.allocate(4 * KiB, other), first);  // the first stream's kernels may still use `first`
    EXPECT_EQ(fake::counts().mallocs, mallocs + 1);     // a segment of the other stream's own
    EXPECT_EQ(fresh.allocate(4 * KiB, mine), first);   // its own stream's order makes reuse safe
  }
}

// A loader's copy stream goes with its loader: its cached blocks (and those still in use, once freed) join the
// compute stream's cache instead of waiting for a stream that never allocates again.
TEST_F(CachingAllocatorOnFakeRuntime, ARetiredStreamsBlocksJoinTheComputeStreamsCache) {
  const cudaStream_t compute = fake::make_stream(), copies = fake::make_stream();
  char* freed = allocate(4 * KiB, copies);
  char* live = allocate(8 * KiB, copies);
  allocator.deallocate(freed);
  allocator.retire_stream(copies, compute);
  EXPECT_EQ(allocate(4 * KiB, compute), freed);
  allocator.deallocate(live);
  EXPECT_EQ(allocate(8 * KiB, compute), live);
  EXPECT_EQ(fake::counts().mallocs, 1);
}

// record_stream: a block another stream uses is reused, once freed, only after that stream's work queued up to the
// free has run (an event recorded there at the free); the event is kept for the next such free.
TEST_F(CachingAllocatorOnFakeRuntime, ABlockAnotherStreamUsesWaitsForThatStreamsWorkAtItsFree) {
  const cudaStream_t compute = fake::make_stream(), side = fake::make_stream();
  char* used = allocate(4 * KiB, compute);
  allocator.record_stream(used, side);
  allocator.record_stream(used, side);     // once is enough
  allocator.record_stream(used, compute);  // its own stream: nothing more to wait for
  allocator.deallocate(used);
  EXPECT_EQ(fake::counts().live_events, 1);
  char* meanwhile = allocate(4 * KiB, compute);
  EXPECT_NE(meanwhile, used) << "reused while the side stream's work may still read it";
  EXPECT_EQ(allocator.stats().allocated_bytes, 8 * KiB) << "a pending free still counts as allocated";
  fake::complete(side);
  EXPECT_EQ(allocate(4 * KiB, compute), used);
  EXPECT_EQ(allocator.stats().allocated_bytes, 8 * KiB);

  allocator.record_stream(meanwhile, side);
  allocator.deallocate(meanwhile);
  EXPECT_EQ(fake::counts().live_events, 1) << "the passed event is reused";
  fake::complete(side);
  EXPECT_EQ(allocate(4 * KiB, compute), meanwhile);
  EXPECT_EQ(fake::counts().mallocs, 1);
  EXPECT_THROW(allocator.record_stream(used + 512, side), Error);  // not a block's start
}

// empty_cache (and the out-of-memory retry) synchronise the device, so every pending free is done then.
TEST_F(CachingAllocatorOnFakeRuntime, EmptyCacheFinishesPendingFreesAndARetiredStreamIsNotWaitedFor) {
  const cudaStream_t compute = fake::make_stream(), side = fake::make_stream(), copies = fake::make_stream();
  char* used = allocate(4 * KiB, compute);
  allocator.record_stream(used, side);
  allocator.deallocate(used);
  allocator.empty_cache();
  EXPECT_EQ(allocator.stats().allocated_bytes, 0u);
  EXPECT_EQ(fake::counts().frees, 1) << "the segment is whole again and given back";

  char* copied = allocate(4 * KiB, compute);
  allocator.record_stream(copied, copies);
  allocator.retire_stream(copies, compute);  // synchronised by the caller (CudaBackend::destroy_stream)
  allocator.deallocate(copied);
  EXPECT_EQ(allocate(4 * KiB, compute), copied) << "freed at once: the retired stream's work has run";
}

// A side stream's block that compute also uses, freed and then its stream destroyed: once compute's work passes,
// the block joins compute's cache (as the stream's other blocks did), not the dead stream's.
TEST_F(CachingAllocatorOnFakeRuntime, APendingFreeOfARetiredStreamsBlockJoinsTheComputeStreamsCache) {
  const cudaStream_t compute = fake::make_stream(), copies = fake::make_stream();
  char* copied = allocate(4 * KiB, copies);
  allocator.record_stream(copied, compute);
  allocator.deallocate(copied);
  allocator.retire_stream(copies, compute);
  fake::complete(compute);
  EXPECT_EQ(allocate(4 * KiB, compute), copied);
  EXPECT_EQ(fake::counts().mallocs, 1);
}

// In a capture, a pool block another stream of the capture uses is not handed out again within the capture (the
// captured work of both streams is not ordered until they join): it waits for the pool's release.
TEST_F(CachingAllocatorOnFakeRuntime, AGraphPoolsBlockUsedByAnotherStreamIsNotReusedInTheCapture) {
  const cudaStream_t stream = fake::make_stream(), side = fake::make_stream();
  const auto pool = reinterpret_cast<cudaStream_t>(&allocator);  // the graph's key
  allocator.begin_pool(stream, pool);
  char* captured = allocate(4 * KiB, stream);
  allocator.record_stream(captured, side);
  allocator.deallocate(captured);
  EXPECT_NE(allocate(4 * KiB, stream), captured);
  allocator.end_pool();
  allocator.release_pool(pool, stream);
  EXPECT_EQ(allocate(4 * KiB, stream), captured);
}

TEST_F(CachingAllocatorOnFakeRuntime, TheSmallestFreeBlockThatFitsIsSplit) {
  char* a = allocate(8 * KiB);
  char* keep1 = allocate(512);
  char* b = allocate(64 * KiB);
  char* keep2 = allocate(512);
  allocator.deallocate(a);
  allocator.deallocate(b);
  EXPECT_EQ(allocate(6 * KiB), a);      // 8 KiB fits better than 64 KiB (or the segment's rest)
  EXPECT_EQ(allocate(2 * KiB), a + 6 * KiB);  // what the split left of it
  EXPECT_EQ(allocate(64 * KiB), b);
  (void)keep1;
  (void)keep2;
}

TEST_F(CachingAllocatorOnFakeRuntime, FreedNeighboursMergeAndEmptyCacheGivesBackWholeSegmentsAfterASync) {
  char* a = allocate(512 * KiB);
  char* b = allocate(512 * KiB);
  EXPECT_EQ(b, a + 512 * KiB);
  char* large = allocate(30 * MiB);
  allocator.deallocate(b);
  allocator.deallocate(a);      // merges with b and the segment's rest: one free 2 MiB block again
  EXPECT_EQ(allocate(MiB), a);  // unmerged, the rest after b would have served it
  allocator.deallocate(a);
  const int syncs = fake::counts().device_syncs;
  allocator.empty_cache();
  EXPECT_EQ(fake::counts().device_syncs, syncs + 1);  // kernels queued before the frees may still use them
  EXPECT_EQ(fake::counts().frees, 1);                 // the small segment; the large one is in use
  EXPECT_EQ(fake::counts().device_bytes_in_use, 30 * MiB);
  allocator.deallocate(large);
  allocator.empty_cache();
  EXPECT_EQ(fake::counts().device_bytes_in_use, 0u);
  EXPECT_EQ(allocator.stats().cached_bytes, 0u);
  EXPECT_EQ(allocator.stats().peak_allocated_bytes, 31 * MiB);
}

TEST_F(CachingAllocatorOnFakeRuntime, OutOfMemoryFreesTheCacheRetriesThenNamesTheNumbers) {
  fake::reset(40 * MiB);
  allocator.deallocate(allocate(5 * MiB));  // a 20 MiB segment, cached
  char* big = allocate(24 * MiB);           // does not fit beside it: the cache is freed and the call retried
  EXPECT_NE(big, nullptr);
  EXPECT_EQ(fake::counts().frees, 1);
  EXPECT_EQ(fake::counts().device_bytes_in_use, 24 * MiB);
  try {
    allocate(20 * MiB);
    FAIL() << "20 MiB more fit on a 40 MiB device holding 24 MiB";
  } catch (const Error& e) {
    const std::string message = e.message();
    for (const char* part : {"CUDA out of memory on cuda:0", "tried to allocate 20 MiB", "24 MiB in use by tensors",
                             "0 MiB cached by Tessera", "16 MiB free of 40 MiB on the device", "out of memory"})
      EXPECT_NE(message.find(part), std::string::npos) << part << " not in: " << message;
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // the failed cudaMalloc's error does not linger
}

TEST_F(CachingAllocatorOnFakeRuntime, AFreeOfMemoryItDidNotAllocateIsAnError) {
  int local = 0;
  EXPECT_THROW(allocator.deallocate(&local), Error);
  allocator.deallocate(nullptr);  // as free(nullptr)
}

// While a stream captures a graph, its allocations come from the graph's pool: nobody else reuses them, during the
// capture or after (the replays write them); blocks from before the capture freed meanwhile wait for the release.
TEST_F(CachingAllocatorOnFakeRuntime, GraphPoolsKeepTheirBlocksUntilReleased) {
  const cudaStream_t stream = fake::make_stream();
  const auto pool = reinterpret_cast<cudaStream_t>(&allocator);  // any unique key (the graph's address)
  char* before = allocate(4 * KiB, stream);
  allocator.begin_pool(stream, pool);
  EXPECT_THROW(allocator.begin_pool(stream, pool), Error);  // one capture at a time
  char* captured = allocate(4 * KiB, stream);
  allocator.deallocate(before);  // the captured work may read it
  EXPECT_NE(allocate(4 * KiB, stream), before);
  allocator.end_pool();
  allocator.deallocate(captured);  // back to the pool, not to the stream
  char* after = allocate(4 * KiB, stream);
  EXPECT_NE(after, captured);
  EXPECT_NE(after, before);  // still deferred
  const size_t in_use = allocator.stats().allocated_bytes;
  const int syncs = fake::counts().device_syncs;
  allocator.release_pool(pool, stream);
  EXPECT_EQ(fake::counts().device_syncs, syncs + 1);  // the last replay may still run
  EXPECT_EQ(allocator.stats().allocated_bytes, in_use - 4 * KiB);  // `before` is free now
  char* reused1 = allocate(4 * KiB, stream);
  char* reused2 = allocate(4 * KiB, stream);
  EXPECT_TRUE((reused1 == before || reused1 == captured) && (reused2 == before || reused2 == captured))
      << "after the release both blocks join the stream's cache";
}

TEST_F(CachingAllocatorOnFakeRuntime, OutOfMemoryWhileCapturingDoesNotSynchroniseOrFree) {
  fake::reset(30 * MiB);
  const cudaStream_t stream = fake::make_stream();
  allocator.deallocate(allocate(5 * MiB, stream));  // 20 MiB cached
  allocator.begin_pool(stream, reinterpret_cast<cudaStream_t>(&allocator));
  const int syncs = fake::counts().device_syncs;
  EXPECT_THROW(allocate(12 * MiB, stream), Error);  // a capture forbids the device sync the retry needs
  EXPECT_EQ(fake::counts().device_syncs, syncs);
  EXPECT_EQ(fake::counts().frees, 0);
  allocator.end_pool();
}

}  // namespace
}  // namespace tessera::kernels::cuda
