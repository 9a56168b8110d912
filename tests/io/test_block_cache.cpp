// BlockCache: hits return the stored bytes without loading, the least recently used block goes first when the
// byte budget is exceeded, and a load that throws leaves nothing behind.
#include <gtest/gtest.h>

#include "io/block_cache.h"
#include "tests/support/test_prelude.h"

namespace tessera::io {
namespace {

TEST(BlockCache, EvictsLeastRecentlyUsedWithinBudget) {
  BlockCache cache(100);
  int loads = 0;
  auto get = [&](uint64_t key) {
    return cache.get(key, 40, [&](char* data) {
      ++loads;
      std::fill(data, data + 40, static_cast<char>(key));
    })[39];
  };
  EXPECT_EQ(get(1), 1);
  EXPECT_EQ(get(2), 2);
  EXPECT_EQ(get(1), 1);  // hit; 2 is now the least recently used
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(get(3), 3);  // 120 bytes > 100: evicts 2
  EXPECT_EQ(get(1), 1);
  EXPECT_EQ(loads, 3);
  EXPECT_EQ(get(2), 2);  // reloaded
  EXPECT_EQ(loads, 4);
}

TEST(BlockCache, FailedLoadStoresNothing) {
  BlockCache cache(100);
  expect_error([&] { cache.get(7, 10, [](char*) { TESSERA_THROW("read failed"); }); }, "read failed");
  int loads = 0;
  cache.get(7, 10, [&](char*) { ++loads; });
  EXPECT_EQ(loads, 1);
}

}  // namespace
}  // namespace tessera::io
