// Bucket assignment (see bucket_assignment.h for the rules and why).
#include "distributed/bucket_assignment.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "core/check.h"

namespace tessera::dist {

std::vector<BucketPlan> assign_buckets(const std::vector<BucketParam>& params, const BucketAssignmentOptions& options) {
  TESSERA_CHECK(options.first_bucket_cap_bytes > 0 && options.bucket_cap_bytes > 0,
                "assign_buckets: bucket caps must be positive, got first_bucket_cap_bytes=",
                options.first_bucket_cap_bytes, " and bucket_cap_bytes=", options.bucket_cap_bytes);
  struct Open {
    BucketPlan plan;
    bool closed_one = false; // a bucket of this dtype was closed already: later ones get the large cap
  };
  struct Closed {
    BucketPlan plan;
    size_t last_visit;  // visiting position of its last parameter: when the bucket is expected to be ready
  };
  std::map<DType, Open> open;  // one open bucket per dtype
  std::vector<Closed> closed;

  const size_t count = params.size();
  for (size_t visit = 0; visit < count; ++visit) {
    const size_t index = count - 1 - visit;  // reverse registration order
    const BucketParam& p = params[index];
    TESSERA_CHECK(p.numel >= 0, "assign_buckets: parameter '", p.name, "' has negative numel ", p.numel);
    Open& bucket = open[p.dtype];
    bucket.plan.dtype = p.dtype;
    bucket.plan.params.push_back(index);
    bucket.plan.offsets.push_back(bucket.plan.numel);
    bucket.plan.numel += p.numel;
    const size_t cap = bucket.closed_one ? options.bucket_cap_bytes : options.first_bucket_cap_bytes;
    if (bucket.plan.bytes() >= cap) {
      closed.push_back({std::move(bucket.plan), visit});
      bucket.plan = BucketPlan{};
      bucket.closed_one = true;
    }
  }
  for (auto& [dtype, bucket] : open) {
    if (bucket.plan.params.empty()) continue;
    const size_t last_visit = count - 1 - bucket.plan.params.back();
    closed.push_back({std::move(bucket.plan), last_visit});
  }
  std::sort(closed.begin(), closed.end(),
            [](const Closed& a, const Closed& b) { return a.last_visit < b.last_visit; });
  std::vector<BucketPlan> result;
  result.reserve(closed.size());
  for (Closed& c : closed) result.push_back(std::move(c.plan));
  return result;
}

std::string describe_buckets(const std::vector<BucketPlan>& buckets, const std::vector<BucketParam>& params) {
  std::ostringstream out;
  out << buckets.size() << (buckets.size() == 1 ? " bucket" : " buckets");
  for (size_t b = 0; b < buckets.size(); ++b) {
    char size[32];
    std::snprintf(size, sizeof(size), "%.3g KiB", static_cast<double>(buckets[b].bytes()) / 1024.0);
    out << (b == 0 ? ": " : "; ") << "#" << b << " " << dtype_name(buckets[b].dtype) << " " << size << " [";
    for (size_t i = 0; i < buckets[b].params.size(); ++i) out << (i ? ", " : "") << params[buckets[b].params[i]].name;
    out << "]";
  }
  return out.str();
}

}  // namespace tessera::dist
