#include "io/distributed_sampler.h"

#include <numeric>

#include "core/check.h"

namespace tessera::io {

namespace {

// splitmix64: a tiny, well-mixed, fully specified generator (Steele, Lea, Flood 2014).
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t bound) {  // Lemire's multiply-shift: uniform enough for bound << 2^64
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
  }
};

}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  SplitMix64 gen{seed};
  gen.state = gen.next() ^ static_cast<uint64_t>(epoch) * 0xd1342543de82ef95ULL;
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.below(static_cast<uint64_t>(i) + 1)]);
  return order;
}

DistributedSampler::DistributedSampler(SamplerOptions options) : options_(options) {
  const int64_t n = options_.dataset_size, w = options_.world_size;
  TESSERA_CHECK(n > 0, "DistributedSampler: dataset_size must be positive, got ", n);
  TESSERA_CHECK(w > 0 && options_.rank >= 0 && options_.rank < w, "DistributedSampler: rank ", options_.rank,
                " is not in [0, world_size = ", w, ")");
  if (options_.drop_last && !options_.evaluation) {
    num_samples_ = n / w;
    TESSERA_CHECK(num_samples_ > 0, "DistributedSampler: drop_last with ", n, " samples over ", w,
                  " ranks leaves no sample for any rank");
  } else {
    num_samples_ = (n + w - 1) / w;
  }
}

EpochPlan DistributedSampler::plan() const {
  const int64_t n = options_.dataset_size, w = options_.world_size, r = options_.rank;
  std::vector<int64_t> order;
  if (options_.shuffle) {
    order = epoch_permutation(n, options_.seed, epoch_);
  } else {
    order.resize(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  EpochPlan plan;
  plan.indices.reserve(static_cast<size_t>(num_samples_));
  plan.valid.reserve(static_cast<size_t>(num_samples_));
  for (int64_t k = 0; k < num_samples_; ++k) {
    const int64_t position = r + k * w;  // position in the epoch list, padded by wrapping around
    plan.indices.push_back(order[static_cast<size_t>(position % n)]);
    plan.valid.push_back(options_.evaluation && position >= n ? 0 : 1);
  }
  return plan;
}

}  // namespace tessera::io
