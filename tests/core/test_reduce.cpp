// max/min (over all and along a dim), argmax/argmin and var: gradients against finite differences (f64,
// non-contiguous inputs), values, indices, dtypes and gradients against PyTorch (ties included), NaN handling,
// 0-d and empty inputs, and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/core.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

// ---------------------------------------------------------------- gradients against finite differences

TEST(ReduceGrad, MaxMinAlongDim) {
  for (int64_t dim : {0, 1, -1}) {
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE(std::to_string(dim) + (keepdim ? " keepdim" : ""));
      expect_gradients_match([&](const Inputs& x) { return max(x[0], dim, keepdim).first; },
                             {noncontiguous_leaf({4, 5, 3}, 1)});
      expect_gradients_match([&](const Inputs& x) { return min(x[0], dim, keepdim).first; },
                             {random_leaf({3, 6, 2}, 2)});
    }
  }
  expect_gradients_match([](const Inputs& x) { return max(x[0], 0).first; }, {random_leaf({7}, 3)});
  expect_gradients_match([](const Inputs& x) { return min(x[0], 1).first * 2.0; }, {noncontiguous_leaf({300, 4}, 4)});
}

TEST(ReduceGrad, MaxMinOverAll) {
  expect_gradients_match([](const Inputs& x) { return max(x[0]); }, {noncontiguous_leaf({4, 5}, 1)});
  expect_gradients_match([](const Inputs& x) { return min(x[0]); }, {random_leaf({3, 2, 2}, 2)});
}

TEST(ReduceGrad, Var) {
  for (bool unbiased : {true, false}) {
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE(std::string(unbiased ? "unbiased" : "biased") + (keepdim ? " keepdim" : ""));
      expect_gradients_match([&](const Inputs& x) { return var(x[0], {1}, unbiased, keepdim); },
                             {noncontiguous_leaf({3, 5}, 1)});
      expect_gradients_match([&](const Inputs& x) { return var(x[0], {0, 2}, unbiased, keepdim); },
                             {random_leaf({4, 3, 5}, 2)});
      expect_gradients_match([&](const Inputs& x) { return var(x[0], {}, unbiased, keepdim); },
                             {noncontiguous_leaf({2, 3, 4}, 3)});
    }
  }
}

// sum and mean: the kept shape SumBackward reshapes to, for negative and unsorted dims, keepdim both ways, and
// mean over all elements (only mean over one dim without keepdim is checked elsewhere).
TEST(ReduceGrad, SumAndMeanDimsAndKeepdim) {
  for (bool keepdim : {false, true}) {
    SCOPED_TRACE(keepdim ? "keepdim" : "no keepdim");
    expect_gradients_match([&](const Inputs& x) { return x[0].sum({-1, 0}, keepdim); },
                           {noncontiguous_leaf({2, 3, 4}, 1)});
    expect_gradients_match([&](const Inputs& x) { return x[0].mean({2, -3}, keepdim); }, {random_leaf({2, 3, 4}, 2)});
    expect_gradients_match([&](const Inputs& x) { return x[0].mean({-1}, keepdim); }, {noncontiguous_leaf({3, 5}, 3)});
  }
  expect_gradients_match([](const Inputs& x) { return x[0].mean(); }, {noncontiguous_leaf({3, 4}, 4)});
}

// ---------------------------------------------------------------- against PyTorch

std::vector<TorchExprCase> floating_cases(DType dtype) {
  auto u = [dtype](const Shape& s, uint64_t seed) { return uniform_tensor(s, dtype, seed); };
  auto t = [dtype](const Shape& s, uint64_t seed) { return transposed_tensor(s, dtype, seed); };
  // Values on a coarse grid: many ties, so first-occurrence indices and shared gradients are exercised.
  auto ties = [dtype](const Shape& s, uint64_t seed) {
    return (uniform_tensor(s, DType::f64, seed, -2.0, 2.0) * 2.0).to(DType::i64).to(dtype);
  };
  return {
      {"torch.max(a)", [](const Inputs& x) { return max(x[0]); }, {t({4, 5}, 1)}},
      {"torch.min(a)", [](const Inputs& x) { return min(x[0]); }, {u({40000}, 2)}},  // several threads
      {"torch.max(a)", [](const Inputs& x) { return max(x[0]); }, {ties({5, 6}, 3)}},
      {"torch.min(a)", [](const Inputs& x) { return min(x[0]); }, {ties({5, 6}, 4)}},
      {"torch.max(a, 1)[0]", [](const Inputs& x) { return max(x[0], 1).first; }, {t({4, 5}, 5)}},
      {"torch.max(a, 1)[1]", [](const Inputs& x) { return max(x[0], 1).second; }, {t({4, 5}, 5)}},
      {"torch.min(a, 0, keepdim=True)[0]", [](const Inputs& x) { return min(x[0], 0, true).first; },
       {u({3, 4, 2}, 6)}},
      {"torch.min(a, 0, keepdim=True)[1]", [](const Inputs& x) { return min(x[0], 0, true).second; },
       {u({3, 4, 2}, 6)}},
      {"torch.max(a, -2)[0]", [](const Inputs& x) { return max(x[0], -2).first; }, {ties({3, 7, 300}, 7)}},
      {"torch.max(a, -2)[1]", [](const Inputs& x) { return max(x[0], -2).second; }, {ties({3, 7, 300}, 7)}},
      {"torch.min(a, 2)[0]", [](const Inputs& x) { return min(x[0], 2).first; }, {ties({3, 4, 9}, 8)}},
      {"torch.min(a, 2)[1]", [](const Inputs& x) { return min(x[0], 2).second; }, {ties({3, 4, 9}, 8)}},
      {"torch.argmax(a, 1)", [](const Inputs& x) { return argmax(x[0], 1); }, {ties({6, 5}, 9)}},
      {"torch.argmin(a, 0, keepdim=True)", [](const Inputs& x) { return argmin(x[0], 0, true); }, {t({6, 5}, 10)}},
      {"torch.var(a, 1)", [](const Inputs& x) { return var(x[0], {1}); }, {t({4, 6}, 11)}},
      {"torch.var(a, (0, 2), unbiased=False, keepdim=True)",
       [](const Inputs& x) { return var(x[0], {0, 2}, false, true); }, {u({3, 4, 5}, 12)}},
      {"torch.var(a, -1, unbiased=False)", [](const Inputs& x) { return var(x[0], {-1}, false); },
       {u({5, 3000}, 13)}},
      {"torch.var(a, (0, 1))", [](const Inputs& x) { return var(x[0], {0, 1}); }, {t({3, 4}, 14)}},
      {"a.sum(dim=(-1, 0))", [](const Inputs& x) { return x[0].sum({-1, 0}); }, {t({2, 3, 4}, 15)}},
      {"a.mean(dim=(2, -3), keepdim=True)", [](const Inputs& x) { return x[0].mean({2, -3}, true); },
       {u({2, 3, 4}, 16)}},
      {"a.mean()", [](const Inputs& x) { return x[0].mean(); }, {t({5, 6}, 17)}},
  };
}

TEST(ReduceVsTorch, FloatingF32AndF64) {
  std::vector<TorchExprCase> cases = floating_cases(DType::f32);
  for (TorchExprCase& c : floating_cases(DType::f64)) cases.push_back(std::move(c));
  // Other dtypes: integers and bool keep their dtype, half types compare in float.
  const Tensor i = (uniform_tensor({4, 5}, DType::f64, 20, -3.0, 3.0)).to(DType::i64);
  const Tensor b = gt(uniform_tensor({3, 4}, DType::f64, 21), 0.0);
  const Tensor h = uniform_tensor({4, 5}, DType::bf16, 22, -3.0, 3.0);
  const std::vector<TorchExprCase> others = {
      {"torch.max(a)", [](const Inputs& x) { return max(x[0]); }, {i}},
      {"torch.min(a, 1)[1]", [](const Inputs& x) { return min(x[0], 1).second; }, {i}},
      {"torch.max(a, 0)[0]", [](const Inputs& x) { return max(x[0], 0).first; }, {i.to(DType::u8)}},
      {"torch.argmax(a, 1)", [](const Inputs& x) { return argmax(x[0], 1); }, {i.to(DType::i32)}},
      {"torch.max(a)", [](const Inputs& x) { return max(x[0]); }, {b}},
      {"torch.min(a, 1)[0]", [](const Inputs& x) { return min(x[0], 1).first; }, {b}},
      {"torch.max(a, 1)[0]", [](const Inputs& x) { return max(x[0], 1).first; }, {h}},
      {"torch.max(a, 1)[1]", [](const Inputs& x) { return max(x[0], 1).second; }, {h}},
      {"torch.min(a)", [](const Inputs& x) { return min(x[0]); }, {h}},
      {"torch.var(a, 0)", [](const Inputs& x) { return var(x[0], {0}); }, {h}},
  };
  cases.insert(cases.end(), others.begin(), others.end());
  testing::expect_matches_torch_exprs(cases);
}

// ---------------------------------------------------------------- edge cases and errors

TEST(Reduce, TiesKeepFirstIndexAndShareGradientOverAll) {
  Tensor x = tensor<double>({1, 3, 3, 0, 3, -1}, {2, 3}).requires_grad_();
  auto [values, indices] = max(x, 1);
  EXPECT_EQ(values.to_vector<double>(), (std::vector<double>{3, 3}));
  EXPECT_EQ(indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(indices.dtype(), DType::i64);
  values.sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 0, 0, 1, 0}));
  x.set_grad(Tensor());
  max(x).backward();  // three elements hold the maximum
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1.0 / 3, 1.0 / 3, 0, 1.0 / 3, 0}));
}

TEST(Reduce, NanPropagates) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType dtype : {DType::f32, DType::f64}) {
    const Tensor x = tensor<double>({1, nan, 5, nan, -2, 0}, {2, 3}).to(dtype);
    EXPECT_TRUE(std::isnan(max(x).item<double>()));
    EXPECT_TRUE(std::isnan(min(x).item<double>()));
    EXPECT_EQ(argmax(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
    EXPECT_EQ(argmin(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
    EXPECT_EQ(argmax(x, 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0}));
    const std::vector<double> mins = min(x, 0).first.to_vector<double>();
    EXPECT_TRUE(std::isnan(mins[0]) && std::isnan(mins[1]));
    EXPECT_EQ(mins[2], 0.0);
  }
}

TEST(Reduce, ScalarsAndSingletons) {
  Tensor s = scalar_tensor(2.5, {.dtype = DType::f64}).requires_grad_();
  auto [v, i] = max(s, 0);
  EXPECT_EQ(v.dim(), 0);
  EXPECT_EQ(i.item<int64_t>(), 0);
  v.backward();
  EXPECT_EQ(s.grad().item<double>(), 1.0);
  EXPECT_EQ(max(s, -1, true).first.item<double>(), 2.5);
  EXPECT_EQ(var(s, {0}, false).item<double>(), 0.0);
  EXPECT_TRUE(std::isnan(var(tensor<double>({4.0}), {0}).item<double>()));  // N - 1 == 0, as PyTorch
  EXPECT_EQ(max(zeros({0, 3}), 1).first.shape(), (Shape{0}));               // nothing to reduce: empty result
}

TEST(Reduce, ErrorsNameTheOp) {
  expect_error([] { max(zeros({0})); }, "max(): expected a non-empty tensor");
  expect_error([] { min(zeros({0, 3}), 0); }, "min(): expected reduction dim 0 to have non-zero size");
  expect_error([] { max(zeros({2, 3}), 2); }, "max: dimension 2 out of range");
  expect_error([] { argmax(tensor<int32_t>({1, 0}).to(DType::boolean), 0); }, "argmax: not defined for bool");
  expect_error([] { var(tensor<int64_t>({1, 2}), {0}); }, "var: expected a floating tensor");
  // PyTorch: "dim 0 appears multiple times in the list of dims"; counting it once would hide a typo.
  expect_error([] { sum(zeros({2, 3}), {0, -2}); }, "sum: dim 0 appears multiple times in the list of dims");
  expect_error([] { mean(zeros({2, 3, 4}), {2, 1, 2}, true); }, "mean: dim 2 appears multiple times");
  expect_error([] { var(zeros({2, 3}), {1, -1}); }, "var: dim 1 appears multiple times");
  expect_error([] { sum(zeros({}), {0, -1}); }, "sum: dim 0 appears multiple times");
}

}  // namespace
}  // namespace tessera
