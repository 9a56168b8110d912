// The pinned host cache (kernels/cuda/pinned_host_cache.h) over the fake runtime: a freed block is handed out again
// only after every async copy that used it has passed (events on the copies' streams), views count as their block,
// and empty_cache gives back only blocks no copy still uses.
#include <gtest/gtest.h>

#include "kernels/common/check.h"
#include "kernels/cuda/pinned_host_cache.h"
#include "tests/kernels/fake_cuda_runtime/fake_cuda_runtime.h"

namespace tessera::kernels::cuda {
namespace {

namespace fake = testing::fake_cuda;

class PinnedHostCacheOnFakeRuntime : public ::testing::Test {
 protected:
  void SetUp() override { fake::reset(size_t{1} << 30); }
  PinnedHostCache cache;
};

TEST_F(PinnedHostCacheOnFakeRuntime, SizesRoundToPowersOfTwoAndFreedBlocksAreReused) {
  void* a = cache.allocate(5000);  // 8 KiB
  cache.free(a);
  EXPECT_EQ(cache.allocate(8192), a);
  void* b = cache.allocate(100);  // 4 KiB at least: another block
  EXPECT_NE(b, a);
  EXPECT_EQ(fake::counts().host_allocs, 2);
}

TEST_F(PinnedHostCacheOnFakeRuntime, ABlockACopyStillUsesIsNotHandedOutUntilTheCopyPassed) {
  const cudaStream_t copies = fake::make_stream();
  auto* batch = static_cast<char*>(cache.allocate(64 << 10));
  EXPECT_TRUE(cache.record_use(batch + 100, copies));  // a view of the block, copied asynchronously
  cache.free(batch);                                    // the loader drops it while the copy is queued
  void* next = cache.allocate(64 << 10);
  EXPECT_NE(next, batch);  // refilling `batch` now would change what the queued copy reads
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "a pending event query must not leave cudaErrorNotReady behind";
  fake::complete(copies);
  cache.free(next);
  void* again = cache.allocate(64 << 10);
  EXPECT_TRUE(again == batch || again == next);
  void* other = cache.allocate(64 << 10);
  EXPECT_TRUE((other == batch || other == next) && other != again) << "both blocks are free of copies now";
  EXPECT_EQ(fake::counts().host_allocs, 2);
  EXPECT_EQ(fake::counts().live_events, 1);  // the passed event is kept
  EXPECT_TRUE(cache.record_use(again, copies));
  EXPECT_EQ(fake::counts().live_events, 1) << "and reused by the next copy";
}

TEST_F(PinnedHostCacheOnFakeRuntime, ForeignPointersAreNotPinnedMemoryOfTheCache) {
  int local = 0;
  EXPECT_FALSE(cache.record_use(&local, nullptr));
  EXPECT_FALSE(cache.contains(&local));
  EXPECT_EQ(fake::counts().live_events, 0);
  cache.free(&local);  // reported on stderr (called from destructors), not thrown
  auto* block = static_cast<char*>(cache.allocate(4096));
  EXPECT_TRUE(cache.contains(block + 4095));
  EXPECT_FALSE(cache.contains(block + 4096));
}

TEST_F(PinnedHostCacheOnFakeRuntime, EmptyCacheGivesBackOnlyBlocksNoCopyStillUses) {
  const cudaStream_t copies = fake::make_stream();
  void* used = cache.allocate(4096);
  void* idle = cache.allocate(4096);
  void* held = cache.allocate(4096);
  cache.record_use(used, copies);
  cache.free(used);
  cache.free(idle);
  cache.empty_cache();
  EXPECT_EQ(fake::counts().host_frees, 1);  // idle; `used` waits for its copy, `held` is in use
  fake::complete(copies);
  cache.empty_cache();
  EXPECT_EQ(fake::counts().host_frees, 2);
  EXPECT_TRUE(cache.contains(held));
  EXPECT_FALSE(cache.contains(used));
}

TEST_F(PinnedHostCacheOnFakeRuntime, ABlockAGraphHoldsIsNeitherReusedNorGivenBackUntilTheGraphIsReleased) {
  int graph = 0, other_graph = 0;
  auto* block = static_cast<char*>(cache.allocate(4096));
  EXPECT_TRUE(cache.hold_for_graph(block + 8, &graph));  // a view, copied in a capture
  EXPECT_TRUE(cache.hold_for_graph(block, &other_graph));
  int local = 0;
  EXPECT_FALSE(cache.hold_for_graph(&local, &graph));
  cache.free(block);
  EXPECT_NE(cache.allocate(4096), block);
  cache.empty_cache();
  EXPECT_EQ(fake::counts().host_frees, 0);
  cache.release_graph(&graph);
  cache.empty_cache();
  EXPECT_TRUE(cache.contains(block)) << "the other graph still holds it";
  cache.release_graph(&other_graph);
  EXPECT_EQ(cache.allocate(4096), block);
}

}  // namespace
}  // namespace tessera::kernels::cuda
