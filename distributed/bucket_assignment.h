#pragma once
// Bucket assignment for the data-parallel reducer: which gradients share one flat buffer and one all-reduce.
// A pure planning function (STYLE.md: planning apart from the code that moves bytes), PyTorch DDP's
// compute_bucket_assignment_by_size:
//   - parameters are visited in reverse registration order, which is roughly the order backward produces their
//     gradients, so the first bucket fills (and its all-reduce starts) early in backward;
//   - each dtype has its own open bucket (one all-reduce moves one dtype); a parameter joins the open bucket of its
//     dtype, and the bucket closes once it holds at least its cap: the first bucket of a dtype closes at
//     first_bucket_cap_bytes (small, so communication starts soon), every later one at bucket_cap_bytes. A bucket may
//     therefore exceed its cap by its last parameter; a parameter larger than the cap gets a bucket of its own;
//   - buckets are ordered by the visiting position of their last parameter: the order in which they are expected
//     to become ready, and the order in which every rank launches their all-reduces. (PyTorch orders its rebuilt
//     buckets the same way: by closing, leftover buckets last.)
// Every rank computes the same plan from the same (identical, checked by the model fingerprint) parameter list.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace tessera::dist {

inline constexpr size_t kMiB = size_t{1} << 20;

// One parameter, as registered (named_parameters() order).
struct BucketParam {
  std::string name;
  int64_t numel = 0;
  DType dtype = DType::f32;
};

struct BucketAssignmentOptions {
  size_t first_bucket_cap_bytes = 1 * kMiB;
  size_t bucket_cap_bytes = 25 * kMiB;
};

struct BucketPlan {
  DType dtype = DType::f32;
  std::vector<size_t> params;   // registration indices, in the order they sit in the flat buffer
  std::vector<int64_t> offsets; // element offset of each parameter in the flat buffer (parallel to params)
  int64_t numel = 0;            // total elements
  size_t bytes() const { return static_cast<size_t>(numel) * element_size(dtype); }
};

// Buckets for `params` (registration order), in launch order. Every parameter lands in exactly one bucket.
// Caps must be positive.
std::vector<BucketPlan> assign_buckets(const std::vector<BucketParam>& params,
                                       const BucketAssignmentOptions& options = {});

// "3 buckets: #0 f32 1.0 MiB [fc2.bias, fc2.weight], ..." for logs and error messages.
std::string describe_buckets(const std::vector<BucketPlan>& buckets, const std::vector<BucketParam>& params);

}  // namespace tessera::dist
