// kernels/cpu/plan_cache.h: plans made once per key, the least recently used dropped beyond the capacity, a failed
// make() caching nothing, a null plan cached, and a dropped plan alive while someone still holds it.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <stdexcept>

#include "kernels/cpu/plan_cache.h"

namespace tessera::kernels::cpu {
namespace {

struct Plan {
  int key;
};
using Cache = PlanCache<int, Plan, std::hash<int>>;

TEST(PlanCache, MakesOncePerKeyAndDropsTheLeastRecentlyUsed) {
  Cache cache(2);
  int made = 0;
  const auto get = [&](int key) {
    return cache.get(key, [&] {
      ++made;
      return std::make_unique<Plan>(Plan{key});
    });
  };
  const std::shared_ptr<Plan> first = get(1);
  EXPECT_EQ(get(1), first);
  EXPECT_EQ(made, 1);
  get(2);
  get(1);  // now 2 is the least recently used
  get(3);  // drops 2
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(made, 3);
  EXPECT_EQ(get(1), first);  // kept
  EXPECT_EQ(made, 3);
  EXPECT_EQ(get(2)->key, 2);  // made again (dropping 3)
  EXPECT_EQ(made, 4);
  EXPECT_EQ(get(3)->key, 3);
  EXPECT_EQ(made, 5);
}

TEST(PlanCache, ADroppedPlanLivesWhileHeld) {
  Cache cache(1);
  const std::shared_ptr<Plan> held = cache.get(1, [] { return std::make_unique<Plan>(Plan{1}); });
  cache.get(2, [] { return std::make_unique<Plan>(Plan{2}); });
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(held.use_count(), 1);  // the cache let go; the holder still has it
  EXPECT_EQ(held->key, 1);
}

TEST(PlanCache, AFailedMakeCachesNothingANullPlanIsCached) {
  Cache cache(4);
  EXPECT_THROW(cache.get(1, []() -> std::unique_ptr<Plan> { throw std::runtime_error("out of memory"); }),
               std::runtime_error);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.get(1, [] { return std::make_unique<Plan>(Plan{1}); })->key, 1);  // tried again
  int made = 0;
  const auto refused = [&] {
    ++made;
    return std::unique_ptr<Plan>();
  };
  EXPECT_EQ(cache.get(2, refused), nullptr);
  EXPECT_EQ(cache.get(2, refused), nullptr);
  EXPECT_EQ(made, 1);
}

}  // namespace
}  // namespace tessera::kernels::cpu
