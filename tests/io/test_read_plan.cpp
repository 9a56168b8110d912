// plan_reads: a batch's indices become one read per shard touched, of maximal runs of consecutive indices, and
// every batch entry (repeats included) finds its row. Checked against a direct per-index computation.
#include <gtest/gtest.h>

#include <random>

#include "io/read_plan.h"
#include "tests/support/test_prelude.h"

namespace tessera::io {
namespace {

// The global index each batch entry's row holds, following the plan.
std::vector<int64_t> resolve(const ReadPlan& plan, const std::vector<int64_t>& offsets) {
  std::vector<std::vector<int64_t>> rows(plan.reads.size());
  for (size_t k = 0; k < plan.reads.size(); ++k)
    for (const auto& run : plan.reads[k].runs)
      for (int64_t i = 0; i < run.length; ++i) rows[k].push_back(offsets[plan.reads[k].shard] + run.start + i);
  std::vector<int64_t> result;
  for (const auto& source : plan.sources) result.push_back(rows[source.read][static_cast<size_t>(source.row)]);
  return result;
}

TEST(ReadPlan, MergesConsecutiveIndicesPerShard) {
  const std::vector<int64_t> offsets = {0, 10, 15, 40};
  const std::vector<int64_t> indices = {12, 3, 4, 5, 9, 10, 11, 14, 15, 39, 4};
  const ReadPlan plan = plan_reads(indices, offsets);
  ASSERT_EQ(plan.reads.size(), 3u);
  EXPECT_EQ(plan.reads[0].shard, 0u);
  ASSERT_EQ(plan.reads[0].runs.size(), 2u);  // 3-5, 9
  EXPECT_EQ(plan.reads[0].runs[0].start, 3);
  EXPECT_EQ(plan.reads[0].runs[0].length, 3);
  EXPECT_EQ(plan.reads[0].runs[1].start, 9);
  ASSERT_EQ(plan.reads[1].runs.size(), 2u);  // 10-12, 14 are local 0-2, 4
  EXPECT_EQ(plan.reads[1].rows, 4);
  EXPECT_EQ(plan.reads[2].rows, 2);  // 15, 39
  EXPECT_EQ(resolve(plan, offsets), indices);
}

TEST(ReadPlan, RandomBatchesResolveToTheirIndices) {
  const std::vector<int64_t> offsets = {0, 40, 57, 120};
  std::mt19937_64 gen(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int64_t> indices(1 + gen() % 64);
    for (auto& i : indices) i = static_cast<int64_t>(gen() % 120);
    const ReadPlan plan = plan_reads(indices, offsets);
    EXPECT_EQ(resolve(plan, offsets), indices);
    for (const auto& read : plan.reads)
      for (size_t r = 1; r < read.runs.size(); ++r)
        EXPECT_GT(read.runs[r].start, read.runs[r - 1].start + read.runs[r - 1].length) << "runs not maximal";
  }
}

TEST(ReadPlan, RejectsIndicesOutsideTheDataset) {
  expect_error([] { plan_reads({3, 120}, {0, 40, 120}); }, "sample index 120 is outside the dataset [0, 120)");
}

}  // namespace
}  // namespace tessera::io
