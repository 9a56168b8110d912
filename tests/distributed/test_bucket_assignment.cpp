// assign_buckets against PyTorch's own DDP bucket assignment (torch.distributed._compute_bucket_assignment_by_size,
// given the parameters in reverse registration order, as DDP does once it rebuilds its buckets), over the real
// models' parameter lists and randomised ones, plus the layout invariants the reducer relies on.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "distributed/bucket_assignment.h"
#include "tests/support/test_prelude.h"

namespace tessera::dist {
namespace {

struct Case {
  std::string label;
  std::vector<BucketParam> params;
  BucketAssignmentOptions options;
};

std::vector<BucketParam> f32_params(const std::vector<int64_t>& numels) {
  std::vector<BucketParam> params;
  for (size_t i = 0; i < numels.size(); ++i) params.push_back({"p" + std::to_string(i), numels[i], DType::f32});
  return params;
}

std::vector<Case> make_cases() {
  // The cpu_step MLP (784-256-128-10) and CNN, weight then bias per layer, as nn modules register them.
  const auto mlp = f32_params({256 * 784, 256, 128 * 256, 128, 10 * 128, 10});
  const auto cnn = f32_params({32 * 9, 32, 64 * 32 * 9, 64, 128 * 64 * 49, 128, 10 * 128, 10});
  std::vector<Case> cases;
  for (const auto& [name, params] : {std::pair{"mlp", mlp}, std::pair{"cnn", cnn}}) {
    for (size_t cap : {size_t{1} << 10, size_t{1} << 20, size_t{25} << 20})
      cases.push_back({std::string(name) + " cap " + std::to_string(cap), params, {cap, cap}});
    cases.push_back({std::string(name) + " default caps", params, {}});
    cases.push_back({std::string(name) + " 64 KiB first, 256 KiB later", params, {64 << 10, 256 << 10}});
  }
  cases.push_back({"one parameter larger than every cap", f32_params({5, 1 << 20, 7}), {1024, 4096}});
  cases.push_back({"zero-size parameters", f32_params({0, 3, 0, 0, 300}), {16, 16}});
  cases.push_back({"no parameters", {}, {}});
  std::mt19937 rng(7);
  const DType dtypes[] = {DType::f32, DType::f64, DType::bf16, DType::f16};
  for (int c = 0; c < 40; ++c) {
    const bool mixed = c % 2 == 1;
    std::vector<BucketParam> params(1 + rng() % 30);
    for (size_t i = 0; i < params.size(); ++i) {
      params[i] = {"p" + std::to_string(i), static_cast<int64_t>(rng() % (rng() % 4 == 0 ? 200000 : 3000)),
                   mixed ? dtypes[rng() % 4] : DType::f32};
    }
    const size_t first = 1 + rng() % 200000, later = 1 + rng() % 800000;
    cases.push_back({(mixed ? "random mixed dtypes #" : "random f32 #") + std::to_string(c), params, {first, later}});
  }
  return cases;
}

std::vector<std::vector<size_t>> indices(const std::vector<BucketPlan>& buckets) {
  std::vector<std::vector<size_t>> out;
  for (const BucketPlan& b : buckets) out.push_back(b.params);
  return out;
}

bool single_dtype(const std::vector<BucketParam>& params) {
  return std::all_of(params.begin(), params.end(), [&](const BucketParam& p) { return p.dtype == params[0].dtype; });
}

TEST(BucketAssignment, MatchesPyTorch) {
  if (!testing::torch_available()) GTEST_SKIP() << "no PyTorch";
  const std::vector<Case> cases = make_cases();
  json request = json::array();
  for (const Case& c : cases) {
    json numel = json::array(), dtype = json::array();
    for (const BucketParam& p : c.params) {
      numel.push_back(p.numel);
      dtype.push_back(dtype_name(p.dtype));
    }
    request.push_back({{"op", "assign"},
                       {"numel", numel},
                       {"dtype", dtype},
                       {"caps", {c.options.first_bucket_cap_bytes, c.options.bucket_cap_bytes}}});
  }
  const json answers = testing::run_torch_script("bucket_assignment.py", request);
  ASSERT_EQ(answers.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].label);
    auto ours = indices(assign_buckets(cases[i].params, cases[i].options));
    auto theirs = answers[i]["buckets"].get<std::vector<std::vector<size_t>>>();
    if (!single_dtype(cases[i].params)) {
      // PyTorch lists the leftover bucket of each dtype in hash-map order; ours are in expected-ready order
      // (checked by ReadyOrder). Same buckets, compared as sets.
      std::sort(ours.begin(), ours.end());
      std::sort(theirs.begin(), theirs.end());
    }
    EXPECT_EQ(ours, theirs);
  }
}

TEST(BucketAssignment, LayoutInvariants) {
  for (const Case& c : make_cases()) {
    SCOPED_TRACE(c.label);
    const auto buckets = assign_buckets(c.params, c.options);
    std::vector<int> seen(c.params.size(), 0);
    size_t previous_last_visit = 0;
    for (size_t b = 0; b < buckets.size(); ++b) {
      const BucketPlan& bucket = buckets[b];
      ASSERT_FALSE(bucket.params.empty());
      ASSERT_EQ(bucket.offsets.size(), bucket.params.size());
      int64_t offset = 0;
      for (size_t k = 0; k < bucket.params.size(); ++k) {
        const BucketParam& p = c.params[bucket.params[k]];
        EXPECT_EQ(p.dtype, bucket.dtype) << "one dtype per bucket";
        EXPECT_EQ(bucket.offsets[k], offset) << "parameters packed back to back";
        offset += p.numel;
        ++seen[bucket.params[k]];
        if (k > 0) {
          EXPECT_LT(bucket.params[k], bucket.params[k - 1]) << "reverse registration order within a bucket";
        }
      }
      EXPECT_EQ(bucket.numel, offset);
      // ReadyOrder: a bucket is ready when its last parameter (in reverse registration order) is; buckets are
      // launched in that order.
      const size_t last_visit = c.params.size() - 1 - bucket.params.back();
      if (b > 0) {
        EXPECT_GT(last_visit, previous_last_visit);
      }
      previous_last_visit = last_visit;
    }
    for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << "parameter " << i << " in exactly one bucket";
  }
}

TEST(BucketAssignment, FirstBucketIsTheSmallOneAndHoldsTheLastLayer) {
  // 1000 f32 = 4000 bytes per parameter; first cap 4 KiB closes after two, then 12 KiB after three.
  const auto params = f32_params({1000, 1000, 1000, 1000, 1000, 1000, 1000});
  const auto buckets = assign_buckets(params, {.first_bucket_cap_bytes = 4096, .bucket_cap_bytes = 12288});
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0].params, (std::vector<size_t>{6, 5}));
  EXPECT_EQ(buckets[1].params, (std::vector<size_t>{4, 3, 2, 1}));
  EXPECT_EQ(buckets[2].params, (std::vector<size_t>{0}));
  EXPECT_EQ(describe_buckets(buckets, params).substr(0, 44), "3 buckets: #0 f32 7.81 KiB [p6, p5]; #1 f32 ");
}

TEST(BucketAssignment, RejectsZeroCap) {
  expect_error([] { assign_buckets(f32_params({1}), {.first_bucket_cap_bytes = 0}); }, "bucket caps must be positive");
}

}  // namespace
}  // namespace tessera::dist
