#pragma once
// DistributedSampler: which samples of a dataset rank r of w reads in epoch e. A pure planner: no I/O, no MPI,
// unit-tested on its own. Semantics are PyTorch's torch.utils.data.DistributedSampler:
//  - shuffle: a permutation of [0, n) seeded by (seed, epoch), the same on every rank; otherwise 0..n-1;
//  - drop_last = false: the list is padded by wrapping around to total_size = w * ceil(n / w);
//    drop_last = true: it is cut to total_size = w * floor(n / w);
//  - rank r takes every w-th entry from r: the shares are disjoint, equally long, and (without padding) their
//    union is the epoch.
// Evaluation mode covers every sample exactly once over all ranks: rank r still takes entries r, r + w, ... of the
// (un-padded) list, and is padded to ceil(n / w) entries with valid = 0 so every rank runs the same number of steps.
// The permutation is our own (splitmix64 + Fisher-Yates), not torch.randperm's: same seed, same order, on every
// platform, but not PyTorch's order.
#include <cstdint>
#include <vector>

namespace tessera::io {

struct SamplerOptions {
  int64_t dataset_size = 0;
  int rank = 0;
  int world_size = 1;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;
  bool evaluation = false;
};

// One rank's samples for one epoch, in the order it reads them.
struct EpochPlan {
  std::vector<int64_t> indices;
  std::vector<uint8_t> valid;  // 0 for padding entries of evaluation mode; otherwise all 1
};

class DistributedSampler {
 public:
  explicit DistributedSampler(SamplerOptions options);

  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }
  int64_t num_samples() const { return num_samples_; }  // per rank, the same on every rank
  const SamplerOptions& options() const { return options_; }
  EpochPlan plan() const;

 private:
  SamplerOptions options_;
  int64_t epoch_ = 0;
  int64_t num_samples_ = 0;
};

// A permutation of [0, n) determined by (seed, epoch) alone.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace tessera::io
