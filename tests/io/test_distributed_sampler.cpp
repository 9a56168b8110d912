// DistributedSampler against PyTorch's torch.utils.data.DistributedSampler (unshuffled order, every world size 1-7
// and dataset sizes that do not divide evenly), and its own guarantees: disjoint shares whose union is the epoch,
// reshuffling per epoch, the same order for the same seed, and evaluation mode covering each sample exactly once.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "io/distributed_sampler.h"
#include "tests/support/test_prelude.h"

namespace tessera::io {
namespace {

const std::vector<int64_t> kSizes = {1, 5, 7, 13, 64, 101};

std::vector<std::vector<int64_t>> shares(SamplerOptions options, int64_t epoch) {
  std::vector<std::vector<int64_t>> result;
  for (int r = 0; r < options.world_size; ++r) {
    options.rank = r;
    DistributedSampler sampler(options);
    sampler.set_epoch(epoch);
    result.push_back(sampler.plan().indices);
  }
  return result;
}

TEST(DistributedSampler, MatchesPyTorchUnshuffled) {
  if (!testing::torch_available()) GTEST_SKIP() << "PyTorch not available";
  json cases = json::array();
  std::vector<std::vector<int64_t>> ours;
  for (int w = 1; w <= 7; ++w)
    for (int64_t n : kSizes)
      for (bool drop_last : {false, true}) {
        if (drop_last && n < w) continue;
        for (int r = 0; r < w; ++r) {
          cases.push_back({{"n", n}, {"world", w}, {"rank", r}, {"drop_last", drop_last}});
          DistributedSampler sampler({.dataset_size = n, .rank = r, .world_size = w, .shuffle = false, .drop_last = drop_last});
          ours.push_back(sampler.plan().indices);
        }
      }
  const json theirs = testing::run_python_script(TESSERA_PYTHON, "tests/io/torch_sampler.py", cases);
  ASSERT_EQ(theirs.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i)
    EXPECT_EQ(ours[i], theirs[i].get<std::vector<int64_t>>()) << "case " << cases[i].dump();
}

TEST(DistributedSampler, SharesAreEqualDisjointAndCoverTheEpoch) {
  for (int w = 1; w <= 7; ++w)
    for (int64_t n : kSizes)
      for (bool shuffle : {false, true})
        for (bool drop_last : {false, true}) {
          if (drop_last && n < w) continue;
          SCOPED_TRACE("n=" + std::to_string(n) + " world=" + std::to_string(w) + " shuffle=" + std::to_string(shuffle) +
                       " drop_last=" + std::to_string(drop_last));
          const auto all = shares({.dataset_size = n, .world_size = w, .shuffle = shuffle, .seed = 3, .drop_last = drop_last}, 2);
          std::map<int64_t, int> seen;
          for (const auto& share : all) {
            EXPECT_EQ(share.size(), all[0].size());
            for (int64_t i : share) ++seen[i];
          }
          const int64_t total = static_cast<int64_t>(all[0].size()) * w;
          if (drop_last) {
            EXPECT_EQ(total, n / w * w);
            for (const auto& [index, count] : seen) EXPECT_EQ(count, 1) << "sample " << index;
            EXPECT_EQ(static_cast<int64_t>(seen.size()), total);
          } else {
            EXPECT_EQ(total, (n + w - 1) / w * w);
            EXPECT_EQ(static_cast<int64_t>(seen.size()), n) << "the union is not the epoch";
            int64_t repeats = 0;
            for (const auto& [index, count] : seen) repeats += count - 1;
            EXPECT_EQ(repeats, total - n) << "only the padding repeats samples";
          }
        }
}

TEST(DistributedSampler, ReshufflesPerEpochAndRepeatsForTheSameSeed) {
  const SamplerOptions options{.dataset_size = 1000, .rank = 1, .world_size = 3, .seed = 42};
  DistributedSampler a(options), b(options), other_seed({.dataset_size = 1000, .rank = 1, .world_size = 3, .seed = 43});
  const auto epoch0 = a.plan().indices;
  EXPECT_EQ(epoch0, b.plan().indices) << "same seed, same epoch, different order";
  EXPECT_NE(epoch0, other_seed.plan().indices);
  a.set_epoch(1);
  EXPECT_NE(epoch0, a.plan().indices) << "no reshuffle between epochs";
  b.set_epoch(1);
  EXPECT_EQ(a.plan().indices, b.plan().indices);
  // The permutation of an epoch is a permutation.
  auto permutation = epoch_permutation(1000, 42, 5);
  std::sort(permutation.begin(), permutation.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(permutation[static_cast<size_t>(i)], i);
}

TEST(DistributedSampler, EvaluationCoversEverySampleOnce) {
  for (int w = 1; w <= 7; ++w)
    for (int64_t n : kSizes)
      for (bool shuffle : {false, true}) {
        SCOPED_TRACE("n=" + std::to_string(n) + " world=" + std::to_string(w));
        std::map<int64_t, int> seen;
        size_t length = 0;
        for (int r = 0; r < w; ++r) {
          DistributedSampler sampler({.dataset_size = n, .rank = r, .world_size = w, .shuffle = shuffle, .evaluation = true});
          const EpochPlan plan = sampler.plan();
          if (r == 0) length = plan.indices.size();
          EXPECT_EQ(plan.indices.size(), length) << "ranks must run the same number of steps";
          for (size_t k = 0; k < plan.indices.size(); ++k)
            if (plan.valid[k]) ++seen[plan.indices[k]];
        }
        EXPECT_EQ(static_cast<int64_t>(seen.size()), n);
        for (const auto& [index, count] : seen) EXPECT_EQ(count, 1) << "sample " << index;
      }
}

TEST(DistributedSampler, RejectsBadOptions) {
  expect_error([] { DistributedSampler({.dataset_size = 0}); }, "dataset_size must be positive");
  expect_error([] { DistributedSampler({.dataset_size = 10, .rank = 3, .world_size = 3}); }, "rank 3");
  expect_error([] { DistributedSampler({.dataset_size = 2, .world_size = 3, .drop_last = true}); }, "drop_last");
}

}  // namespace
}  // namespace tessera::io
