#include "io/read_plan.h"

#include <algorithm>
#include <numeric>

#include "core/check.h"

namespace tessera::io {

ReadPlan plan_reads(const std::vector<int64_t>& indices, const std::vector<int64_t>& offsets) {
  const int64_t total = offsets.back();
  std::vector<size_t> order(indices.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return indices[a] < indices[b]; });

  ReadPlan plan;
  plan.sources.resize(indices.size());
  int64_t previous = -1;
  for (size_t entry : order) {
    const int64_t index = indices[entry];
    TESSERA_CHECK(index >= 0 && index < total, "sample index ", index, " is outside the dataset [0, ", total, ")");
    if (index != previous) {
      const size_t shard =
          static_cast<size_t>(std::upper_bound(offsets.begin(), offsets.end(), index) - offsets.begin()) - 1;
      const int64_t local = index - offsets[shard];
      if (plan.reads.empty() || plan.reads.back().shard != shard) plan.reads.push_back({.shard = shard});
      ShardRead& read = plan.reads.back();
      if (!read.runs.empty() && read.runs.back().start + read.runs.back().length == local) {
        ++read.runs.back().length;
      } else {
        read.runs.push_back({local, 1});
      }
      ++read.rows;
      previous = index;
    }
    plan.sources[entry] = {plan.reads.size() - 1, plan.reads.back().rows - 1};
  }
  return plan;
}

}  // namespace tessera::io
