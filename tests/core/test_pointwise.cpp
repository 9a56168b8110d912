// Pointwise ops: gradients against finite differences (f64, broadcasting, non-contiguous inputs), values, dtypes
// and gradients against PyTorch (f32, f64, integer and half inputs), edge cases (NaN, infinities, errors), and the
// vectorised f32 paths of exp, sigmoid and tanh against f64 over their whole range.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/core.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

Tensor bools(const std::vector<int>& values) { return tensor<int32_t>(values).to(DType::boolean); }

// ---------------------------------------------------------------- gradients against finite differences

TEST(PointwiseGrad, UnaryMath) {
  expect_gradients_match([](const Inputs& x) { return sqrt(x[0]); }, {random_leaf({3, 4}, 1, 0.2, 2.0)});
  expect_gradients_match([](const Inputs& x) { return rsqrt(x[0]); }, {noncontiguous_leaf({3, 4}, 2, 0.2, 2.0)});
  expect_gradients_match([](const Inputs& x) { return abs(x[0]); }, {noncontiguous_leaf({4, 3}, 3)});
  expect_gradients_match([](const Inputs& x) { return exp(x[0]); }, {noncontiguous_leaf({2, 5}, 4)});
  expect_gradients_match([](const Inputs& x) { return log(x[0]); }, {noncontiguous_leaf({5, 2}, 5, 0.2, 2.0)});
  expect_gradients_match([](const Inputs& x) { return tanh(x[0]); }, {noncontiguous_leaf({3, 3}, 6, -3.0, 3.0)});
  expect_gradients_match([](const Inputs& x) { return sigmoid(x[0]); }, {random_leaf({7}, 7, -5.0, 5.0)});
}

TEST(PointwiseGrad, Activations) {
  expect_gradients_match([](const Inputs& x) { return relu(x[0]); }, {noncontiguous_leaf({4, 5}, 1)});
  expect_gradients_match([](const Inputs& x) { return gelu(x[0]); }, {noncontiguous_leaf({4, 5}, 2, -4.0, 4.0)});
  expect_gradients_match([](const Inputs& x) { return gelu(x[0], true); }, {random_leaf({4, 5}, 3, -4.0, 4.0)});
  expect_gradients_match([](const Inputs& x) { return leaky_relu(x[0], 0.2); }, {noncontiguous_leaf({3, 4}, 4)});
  expect_gradients_match([](const Inputs& x) { return leaky_relu(x[0]); }, {random_leaf({6}, 5)});
  expect_gradients_match([](const Inputs& x) { return silu(x[0]); }, {noncontiguous_leaf({4, 5}, 6, -6.0, 6.0)});
}

TEST(PointwiseGrad, Clamp) {
  expect_gradients_match([](const Inputs& x) { return clamp(x[0], -0.3, 0.4); }, {noncontiguous_leaf({5, 4}, 1)});
  expect_gradients_match([](const Inputs& x) { return clamp(x[0], -0.3, std::nullopt); }, {random_leaf({9}, 2)});
  expect_gradients_match([](const Inputs& x) { return clamp(x[0], std::nullopt, 0.1); }, {random_leaf({9}, 3)});
}

TEST(PointwiseGrad, Pow) {
  for (double e : {2.0, 3.0, -2.0, 1.0, 0.0}) {
    SCOPED_TRACE(e);
    expect_gradients_match([e](const Inputs& x) { return pow(x[0], e); }, {noncontiguous_leaf({3, 4}, 1, -2.0, 2.0)});
  }
  for (double e : {0.5, -0.5, -1.0, 2.5, -1.7}) {
    SCOPED_TRACE(e);
    expect_gradients_match([e](const Inputs& x) { return pow(x[0], e); }, {random_leaf({3, 4}, 2, 0.3, 2.0)});
  }
  // Tensor exponent: both operands differentiable, broadcasting both ways, a non-contiguous base.
  expect_gradients_match([](const Inputs& x) { return pow(x[0], x[1]); },
                         {noncontiguous_leaf({3, 4}, 3, 0.3, 2.0), random_leaf({4}, 4, -2.0, 2.0)});
  expect_gradients_match([](const Inputs& x) { return pow(x[0], x[1]); },
                         {random_leaf({3, 1}, 5, 0.3, 2.0), noncontiguous_leaf({2, 3, 4}, 6, -2.0, 2.0)});
}

// The denominator's gradient where b * b is out of range but a / b / b is not (values from torch 1.13: f16
// (a / b).sum().backward() with a = b = 300 gives b.grad -0.0033340454; (1 / x) with x = 300, 1000 gives
// -1.1086464e-05, -1.0132790e-06; f32 a = b = 1e20 gives -1e-20, a = b = 1e-30 gives -1e30).
TEST(PointwiseGrad, DivisionDenominatorGradientStaysInRange) {
  auto denominator_grad = [](double a_value, double b_value, DType dtype) {
    Tensor a = full({1}, a_value, {.dtype = dtype}).requires_grad_();
    Tensor b = full({1}, b_value, {.dtype = dtype}).requires_grad_();
    div(a, b).sum().backward();
    return b.grad().item<double>();
  };
  EXPECT_NEAR(denominator_grad(300, 300, DType::f16), -0.0033340454, 1e-6);
  EXPECT_NEAR(denominator_grad(1e20, 1e20, DType::f32), -1e-20, 1e-26);
  EXPECT_NEAR(denominator_grad(1e-30, 1e-30, DType::f32) / 1e30, -1.0, 1e-6);
  Tensor x = tensor<float>({300, 1000}).to(DType::f16).requires_grad_();
  (1.0 / x).sum().backward();
  const std::vector<double> g = x.grad().to_vector<double>();
  EXPECT_NEAR(g[0], -1.1086464e-05, 1e-7);
  EXPECT_NEAR(g[1], -1.0132790e-06, 1e-7);
}

TEST(PointwiseGrad, WhereAndMaskedFill) {
  const Tensor cond = gt(uniform_tensor({3, 4}, DType::f64, 9), 0.0);
  expect_gradients_match([&](const Inputs& x) { return where(cond, x[0], x[1]); },
                         {noncontiguous_leaf({3, 4}, 1), random_leaf({4}, 2)});
  // The condition broadcasts too: the output is bigger than both values.
  const Tensor row = gt(uniform_tensor({2, 1, 4}, DType::f64, 10), 0.0);
  expect_gradients_match([&](const Inputs& x) { return where(row, x[0], x[1]); },
                         {random_leaf({3, 1}, 3), noncontiguous_leaf({3, 4}, 4)});
  expect_gradients_match([&](const Inputs& x) { return masked_fill(x[0], cond, -5.0); },
                         {noncontiguous_leaf({3, 4}, 5)});
  expect_gradients_match([&](const Inputs& x) { return masked_fill(x[0], row, 2.0); }, {random_leaf({3, 4}, 6)});
}

// maximum/minimum: both operands differentiable, broadcasting both ways (sum_to of each side's gradient), a
// non-contiguous operand. Random values, so no ties within the finite-difference step (ties and NaN are compared
// with PyTorch in test_nan_vs_torch.cpp).
TEST(PointwiseGrad, MaximumMinimum) {
  expect_gradients_match([](const Inputs& x) { return maximum(x[0], x[1]); },
                         {noncontiguous_leaf({3, 4}, 1), random_leaf({4}, 2)});
  expect_gradients_match([](const Inputs& x) { return minimum(x[0], x[1]); },
                         {random_leaf({3, 1}, 3), noncontiguous_leaf({2, 3, 4}, 4)});
  expect_gradients_match([](const Inputs& x) { return maximum(x[0], x[1]); },
                         {random_leaf({2, 1, 4}, 5), noncontiguous_leaf({3, 1}, 6)});
  expect_gradients_match([](const Inputs& x) { return minimum(x[0], x[1]); },
                         {noncontiguous_leaf({4, 3}, 7), random_leaf({4, 3}, 8)});
}

// ---------------------------------------------------------------- against PyTorch

std::vector<TorchExprCase> floating_cases(DType dtype) {
  auto u = [dtype](const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0) {
    return uniform_tensor(s, dtype, seed, lo, hi);
  };
  auto t = [dtype](const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0) {
    return transposed_tensor(s, dtype, seed, lo, hi);
  };
  const Inputs partly_equal = {tensor<double>({0.5, 1, -2, 3}, {2, 2}).to(dtype), tensor<double>({0.5, 3}).to(dtype)};
  return {
      {"torch.exp(a)", [](const Inputs& x) { return exp(x[0]); }, {t({3, 4}, 1, -5.0, 5.0)}},
      {"torch.log(a)", [](const Inputs& x) { return log(x[0]); }, {u({7}, 2, 0.1, 3.0)}},
      {"torch.relu(a)", [](const Inputs& x) { return relu(x[0]); }, {t({4, 3}, 3)}},
      {"torch.sqrt(a)", [](const Inputs& x) { return sqrt(x[0]); }, {u({6}, 4, 0.1, 4.0)}},
      {"torch.rsqrt(a)", [](const Inputs& x) { return rsqrt(x[0]); }, {t({2, 3}, 5, 0.1, 4.0)}},
      {"torch.abs(a)", [](const Inputs& x) { return abs(x[0]); }, {t({3, 5}, 6)}},
      {"torch.tanh(a)", [](const Inputs& x) { return tanh(x[0]); }, {t({5, 6}, 7, -4.0, 4.0)}},
      {"torch.tanh(a)", [](const Inputs& x) { return tanh(x[0]); }, {u({40}, 8, -0.7, 0.7)}},
      {"torch.sigmoid(a)", [](const Inputs& x) { return sigmoid(x[0]); }, {t({4, 6}, 9, -12.0, 12.0)}},
      {"F.gelu(a)", [](const Inputs& x) { return gelu(x[0]); }, {t({4, 5}, 10, -5.0, 5.0)}},
      {"F.gelu(a, approximate='tanh')", [](const Inputs& x) { return gelu(x[0], true); }, {u({30}, 11, -5.0, 5.0)}},
      {"F.leaky_relu(a)", [](const Inputs& x) { return leaky_relu(x[0]); }, {t({3, 4}, 12)}},
      {"F.silu(a)", [](const Inputs& x) { return silu(x[0]); }, {t({5, 7}, 15, -30.0, 30.0)}},
      {"F.silu(a)", [](const Inputs& x) { return silu(x[0]); }, {u({40}, 16, -0.5, 0.5)}},
      {"F.leaky_relu(a, 0.3)", [](const Inputs& x) { return leaky_relu(x[0], 0.3); }, {u({8}, 13)}},
      {"torch.clamp(a, -0.2, 0.5)", [](const Inputs& x) { return clamp(x[0], -0.2, 0.5); }, {t({5, 4}, 14)}},
      {"torch.clamp(a, min=0.1)", [](const Inputs& x) { return clamp(x[0], 0.1, std::nullopt); }, {u({9}, 15)}},
      {"torch.clamp(a, max=-0.1)", [](const Inputs& x) { return clamp(x[0], std::nullopt, -0.1); }, {u({9}, 16)}},
      {"torch.clamp(a, 0.5, -0.5)", [](const Inputs& x) { return clamp(x[0], 0.5, -0.5); }, {u({5}, 17)}},
      {"torch.pow(a, 2)", [](const Inputs& x) { return pow(x[0], 2.0); }, {t({3, 4}, 18, -2.0, 2.0)}},
      {"torch.pow(a, 3)", [](const Inputs& x) { return pow(x[0], 3.0); }, {u({6}, 19, -2.0, 2.0)}},
      {"torch.pow(a, 0.5)", [](const Inputs& x) { return pow(x[0], 0.5); }, {u({6}, 20, 0.1, 2.0)}},
      {"torch.pow(a, -1)", [](const Inputs& x) { return pow(x[0], -1.0); }, {u({6}, 21, 0.1, 2.0)}},
      {"torch.pow(a, 2.7)", [](const Inputs& x) { return pow(x[0], 2.7); }, {t({3, 2}, 22, 0.1, 2.0)}},
      {"torch.pow(a, 0)", [](const Inputs& x) { return pow(x[0], 0.0); }, {u({4}, 23)}},
      {"torch.pow(a, b)", [](const Inputs& x) { return pow(x[0], x[1]); },
       {t({3, 4}, 24, 0.1, 2.0), u({4}, 25, -2, 2)}},
      {"torch.pow(a, b)", [](const Inputs& x) { return pow(x[0], x[1]); }, {u({3, 1}, 26, 0.1, 2.0), t({2, 3, 4}, 27)}},
      {"torch.where(a > 0, b, c)", [](const Inputs& x) { return where(gt(x[0], 0.0), x[1], x[2]); },
       {u({3, 4}, 28), t({3, 4}, 29), u({4}, 30)}},
      {"torch.where(a > 0, b, c)", [](const Inputs& x) { return where(gt(x[0], 0.0), x[1], x[2]); },
       {u({2, 1, 4}, 31), u({3, 1}, 32), t({3, 4}, 33)}},
      {"a.masked_fill(b < 0, -3.5)", [](const Inputs& x) { return masked_fill(x[0], lt(x[1], 0.0), -3.5); },
       {t({3, 4}, 34), u({3, 4}, 35)}},
      {"a.masked_fill(b < 0, 2.0)", [](const Inputs& x) { return masked_fill(x[0], lt(x[1], 0.0), 2.0); },
       {u({4}, 36), u({3, 4}, 37)}},
      {"a == b", [](const Inputs& x) { return eq(x[0], x[1]); }, {partly_equal[0], partly_equal[1]}},
      {"a != b", [](const Inputs& x) { return ne(x[0], x[1]); }, {partly_equal[1], partly_equal[0]}},
      {"a == b", [](const Inputs& x) { return eq(x[0], x[1]); }, {u({2, 3}, 38), u({2, 3}, 38)}},
      {"a < b", [](const Inputs& x) { return lt(x[0], x[1]); }, {t({3, 4}, 40), u({4}, 41)}},
      {"a <= b", [](const Inputs& x) { return le(x[0], x[1]); }, {u({3, 1}, 42), u({4}, 43)}},
      {"a > b", [](const Inputs& x) { return gt(x[0], x[1]); }, {u({3, 4}, 44), t({3, 4}, 45)}},
      {"a >= b", [](const Inputs& x) { return ge(x[0], x[1]); }, {u({5}, 46), u({5}, 46)}},
      {"a == 0.1", [](const Inputs& x) { return eq(x[0], 0.1); }, {full({3}, 0.1, {.dtype = dtype})}},
      {"a > 0.25", [](const Inputs& x) { return gt(x[0], 0.25); }, {t({3, 4}, 47)}},
      {"a < -0.25", [](const Inputs& x) { return lt(x[0], -0.25); }, {u({6}, 48)}},
      {"torch.logical_not(a > 0)", [](const Inputs& x) { return logical_not(gt(x[0], 0.0)); }, {u({6}, 49)}},
      {"torch.logical_not(a)", [](const Inputs& x) { return logical_not(x[0]); },
       {tensor<double>({0, 1, -0.0, 2.5}).to(dtype)}},
  };
}

TEST(PointwiseVsTorch, FloatingF32AndF64) {
  std::vector<TorchExprCase> cases = floating_cases(DType::f32);
  for (TorchExprCase& c : floating_cases(DType::f64)) cases.push_back(std::move(c));
  testing::expect_matches_torch_exprs(cases);
}

// bf16 and f16 compute in f32 and round once. PyTorch 1.13 has few f16 CPU kernels, so its f16 reference is the
// same expression on a.float(), rounded to f16 (the semantics we implement).
TEST(PointwiseVsTorch, HalfTypesComputeInFloat) {
  struct HalfCase {
    std::string expr;  // over A
    std::function<Tensor(const Inputs&)> fn;
    bool positive_input = false;
    bool float_output = true;
  };
  const std::vector<HalfCase> half_cases = {
      {"torch.exp(A)", [](const Inputs& v) { return exp(v[0]); }},
      {"torch.relu(A)", [](const Inputs& v) { return relu(v[0]); }},
      {"torch.sigmoid(A)", [](const Inputs& v) { return sigmoid(v[0]); }},
      {"torch.tanh(A)", [](const Inputs& v) { return tanh(v[0]); }},
      {"F.gelu(A)", [](const Inputs& v) { return gelu(v[0]); }},
      {"F.gelu(A, approximate='tanh')", [](const Inputs& v) { return gelu(v[0], true); }},
      {"F.leaky_relu(A)", [](const Inputs& v) { return leaky_relu(v[0]); }},
      {"F.silu(A)", [](const Inputs& v) { return silu(v[0]); }},
      {"torch.abs(A)", [](const Inputs& v) { return abs(v[0]); }},
      {"torch.clamp(A, -1, 1)", [](const Inputs& v) { return clamp(v[0], -1.0, 1.0); }},
      {"torch.sqrt(A)", [](const Inputs& v) { return sqrt(v[0]); }, true},
      {"torch.pow(A, 1.5)", [](const Inputs& v) { return pow(v[0], 1.5); }, true},
      {"A > 0.5", [](const Inputs& v) { return gt(v[0], 0.5); }, false, false},
  };
  std::vector<TorchExprCase> cases;
  for (DType dtype : {DType::bf16, DType::f16}) {
    const Tensor x = uniform_tensor({4, 5}, dtype, 1, -3.0, 3.0);
    const Tensor p = uniform_tensor({6}, dtype, 2, 0.1, 3.0);
    for (const HalfCase& hc : half_cases) {
      std::string expr = hc.expr;
      expr.replace(expr.find('A'), 1, dtype == DType::f16 ? "a.float()" : "a");
      if (dtype == DType::f16 && hc.float_output) expr = "(" + expr + ").half()";
      cases.push_back({expr, hc.fn, {hc.positive_input ? p : x}});
    }
  }
  testing::expect_matches_torch_exprs(cases);
}

TEST(PointwiseVsTorch, IntegerInputsAndPromotion) {
  const Tensor i64 = tensor<int64_t>({-3, -1, 0, 1, 2, 5}, {2, 3});
  const Tensor i32 = tensor<int32_t>({-2, 0, 1, 4});
  const Tensor u8 = tensor<uint8_t>({0, 1, 2, 200});
  const Tensor b = bools({true, false, true, true});
  const Tensor f = uniform_tensor({2, 3}, DType::f32, 3);
  const Tensor d = uniform_tensor({3}, DType::f64, 4);
  auto one = [](std::function<Tensor(const Tensor&)> op) { return [op](const Inputs& x) { return op(x[0]); }; };
  auto two = [](std::function<Tensor(const Tensor&, const Tensor&)> op) {
    return [op](const Inputs& x) { return op(x[0], x[1]); };
  };
  testing::expect_matches_torch_exprs({
      {"torch.relu(a)", one([](const Tensor& x) { return relu(x); }), {i64}},
      {"torch.abs(a)", one([](const Tensor& x) { return abs(x); }), {i32}},
      {"torch.abs(a)", one([](const Tensor& x) { return abs(x); }), {u8}},
      {"torch.clamp(a, -1, 2)", one([](const Tensor& x) { return clamp(x, -1.0, 2.0); }), {i64}},
      {"torch.clamp(a, min=0.5)", one([](const Tensor& x) { return clamp(x, 0.5, std::nullopt); }), {i32}},
      {"torch.clamp(a, 0, 1)", one([](const Tensor& x) { return clamp(x, 0.0, 1.0); }), {b}},
      {"torch.sqrt(a)", one([](const Tensor& x) { return sqrt(x); }), {u8}},
      {"torch.exp(a)", one([](const Tensor& x) { return exp(x); }), {b}},
      {"torch.log(a)", one([](const Tensor& x) { return log(x); }), {u8.narrow(0, 1, 3)}},
      {"torch.tanh(a)", one([](const Tensor& x) { return tanh(x); }), {i64}},
      {"torch.sigmoid(a)", one([](const Tensor& x) { return sigmoid(x); }), {i32}},
      {"torch.rsqrt(a)", one([](const Tensor& x) { return rsqrt(x); }), {u8.narrow(0, 1, 3)}},
      {"torch.pow(a, 3)", one([](const Tensor& x) { return pow(x, 3.0); }), {i64}},
      {"torch.pow(a, 0)", one([](const Tensor& x) { return pow(x, 0.0); }), {i32}},
      {"torch.pow(a, 2)", one([](const Tensor& x) { return pow(x, 2.0); }), {b}},
      {"torch.pow(a, 0.5)", one([](const Tensor& x) { return pow(x, 0.5); }), {u8}},
      {"torch.pow(a, b)", two([](const Tensor& x, const Tensor& y) { return pow(x, y); }),
       {i64, tensor<int64_t>({2, -1, 3})}},
      {"torch.pow(a, b)", two([](const Tensor& x, const Tensor& y) { return pow(x, y); }),
       {tensor<int64_t>({1, -1, -1, 2}), tensor<int64_t>({-3, -3, -2, 10})}},
      {"torch.pow(a, b)", two([](const Tensor& x, const Tensor& y) { return pow(x, y); }),
       {abs(f), i64}},
      {"torch.pow(a, b)", two([](const Tensor& x, const Tensor& y) { return pow(x, y); }), {abs(f), d}},
      {"a == b", two([](const Tensor& x, const Tensor& y) { return eq(x, y); }),
       {i32, tensor<double>({-2, 0.5, 1, 3})}},
      {"a < b", two([](const Tensor& x, const Tensor& y) { return lt(x, y); }), {u8, i32}},
      {"a >= b", two([](const Tensor& x, const Tensor& y) { return ge(x, y); }),
       {b, bools({true, true, false, false})}},
      // bool arithmetic: + and maximum are logical or, * and minimum logical and; a scalar makes it i64
      {"a + b", two([](const Tensor& x, const Tensor& y) { return add(x, y); }), {b, bools({true, true, false, false})}},
      {"torch.add(a, b, alpha=0)", two([](const Tensor& x, const Tensor& y) { return add(x, y, 0.0); }),
       {bools({false, false, true, true}), bools({true, false, true, false})}},
      {"a * b", two([](const Tensor& x, const Tensor& y) { return mul(x, y); }), {b, bools({true, true, false, false})}},
      {"torch.maximum(a, b)", two([](const Tensor& x, const Tensor& y) { return maximum(x, y); }),
       {bools({false, false, true, true}), bools({true, false, true, false})}},
      {"torch.minimum(a, b)", two([](const Tensor& x, const Tensor& y) { return minimum(x, y); }),
       {bools({false, false, true, true}), bools({true, false, true, false})}},
      {"a + 2", one([](const Tensor& x) { return add(x, 2.0); }), {b}},
      {"a != b", two([](const Tensor& x, const Tensor& y) { return ne(x, y); }), {i64, f}},
      {"a > 0.5", one([](const Tensor& x) { return gt(x, 0.5); }), {i64}},
      {"a == 1", one([](const Tensor& x) { return eq(x, 1.0); }), {b}},
      {"a < 2", one([](const Tensor& x) { return lt(x, 2.0); }), {u8}},
      {"torch.logical_not(a)", one([](const Tensor& x) { return logical_not(x); }), {i64}},
      {"torch.logical_not(a)", one([](const Tensor& x) { return logical_not(x); }), {b}},
      {"torch.where(a > 0, b, c)", [](const Inputs& x) { return where(gt(x[0], 0.0), x[1], x[2]); }, {i64, f, d}},
      {"torch.where(a > 0, b, c)", [](const Inputs& x) { return where(gt(x[0], 0.0), x[1], x[2]); }, {i64, i64, f}},
      {"torch.where(a > 0, b, c)", [](const Inputs& x) { return where(gt(x[0], 0.0), x[1], x[2]); },
       {i32, i32, u8}},
      {"a.masked_fill(b > 0, 2.7)",
       two([](const Tensor& x, const Tensor& m) { return masked_fill(x, gt(m, 0.0), 2.7); }),
       {i64, f}},
      {"a.masked_fill(b > 0, 0)", two([](const Tensor& x, const Tensor& m) { return masked_fill(x, gt(m, 0.0), 0.0); }),
       {b, i32}},
      {"a.masked_fill(b.bool(), -1.5)", two([](const Tensor& x, const Tensor& m) { return masked_fill(x, m, -1.5); }),
       {d, bools({true, false, true})}},
  });
}

// log_softmax is (x - max) - log(sum), as PyTorch's: x - (max + log(sum)) rounded max + log(sum) first and lost
// log(sum) (all of it beside 1e30; 0.2% of the confident class's log-probability at f32 logits [10, 0, 0]). The row
// path (last dim) and the column-tile path (dim 0 of a matrix) on every device.
TEST(PointwiseVsTorch, LogSoftmaxKeepsTheLogSumApart) {
  auto along = [](int64_t dim) { return [dim](const Inputs& x) { return log_softmax(x[0], dim); }; };
  testing::expect_matches_torch_exprs({
      {"torch.log_softmax(a, 0)", along(0), {tensor<double>({1e30, 1e30, 0})}},
      {"torch.log_softmax(a, -1)", along(-1), {tensor<float>({10, 0, 0})}},
      {"torch.log_softmax(a, 0)", along(0), {tensor<float>({10, 1e8, 0, 1e8, 0, 3}).reshape({3, 2})}},
  });
}

// PyTorch's zero-dim rule: a 0-dim tensor beside one with dimensions decides the dtype only from a higher category
// (bool < integer < float). Mixed precision relies on it: a bf16 activation times an f32 0-dim factor stays bf16.
TEST(PointwiseVsTorch, ZeroDimTensorsPromoteOnlyByCategory) {
  const Tensor h = uniform_tensor({2, 3}, DType::bf16, 5);
  const Tensor f16 = uniform_tensor({3}, DType::f16, 6);
  const Tensor i32 = tensor<int32_t>({-2, 0, 1, 4});
  const Tensor u8 = tensor<uint8_t>({0, 1, 2, 200});
  const Tensor b = bools({true, false, true, true});
  const Tensor f32_0d = scalar_tensor(0.75);
  const Tensor f64_0d = scalar_tensor(-1.25, {.dtype = DType::f64});
  const Tensor bf16_0d = scalar_tensor(1.5, {.dtype = DType::bf16});
  const Tensor i64_0d = scalar_tensor(3, {.dtype = DType::i64});
  const Tensor bool_0d = scalar_tensor(1, {.dtype = DType::boolean});
  auto two = [](std::function<Tensor(const Tensor&, const Tensor&)> op) {
    return [op](const Inputs& x) { return op(x[0], x[1]); };
  };
  const auto times = two([](const Tensor& x, const Tensor& y) { return mul(x, y); });
  const auto plus = two([](const Tensor& x, const Tensor& y) { return add(x, y); });
  const auto over = two([](const Tensor& x, const Tensor& y) { return div(x, y); });
  testing::expect_matches_torch_exprs({
      {"a * b", times, {h, f32_0d}},         // bf16: the float 0-dim tensor is not of a higher category
      {"b * a", times, {f32_0d, h}},         // either side
      {"a + b", plus, {f16, f64_0d}},        // f16
      {"a + b", plus, {f16, bf16_0d}},       // f16, where two dimensioned half tensors give f32
      {"a - b", two([](const Tensor& x, const Tensor& y) { return sub(x, y); }), {h, i64_0d}},  // bf16
      {"a + b", plus, {i32, f64_0d}},        // f64: higher category
      {"a * b", times, {u8, i64_0d}},        // u8: integers beside integers keep the dimensioned type
      {"a + b", plus, {b, i64_0d}},          // i64: bool tensor, integer 0-dim
      {"a * b", times, {b, bool_0d}},        // bool
      {"a / b", over, {i32, i64_0d}},        // true division: the default float
      {"a + b", plus, {f32_0d, f64_0d}},     // two 0-dim tensors: ordinary promotion, f64
      {"torch.maximum(a, b)", two([](const Tensor& x, const Tensor& y) { return maximum(x, y); }), {h, f32_0d}},
      {"torch.pow(a, b)", two([](const Tensor& x, const Tensor& y) { return pow(x, y); }), {abs(h), f32_0d}},
      {"torch.where(a > 0, a, b)", two([](const Tensor& x, const Tensor& y) { return where(gt(x, 0.0), x, y); }),
       {h, f64_0d}},
      {"a < b", two([](const Tensor& x, const Tensor& y) { return lt(x, y); }), {i32, scalar_tensor(0.5)}},
  });
}

// ---------------------------------------------------------------- edge cases and errors

TEST(Pointwise, NanAndInfinity) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (DType dtype : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = tensor<double>({nan, inf, -inf, 0.0}).to(dtype);
    const auto v = [](const Tensor& t) { return t.to_vector<double>(); };
    EXPECT_TRUE(std::isnan(v(clamp(x, -1.0, 1.0))[0]));
    EXPECT_EQ(v(clamp(x, -1.0, 1.0))[1], 1.0);
    EXPECT_EQ(v(clamp(x, -1.0, 1.0))[2], -1.0);
    EXPECT_TRUE(std::isnan(v(sigmoid(x))[0]));
    EXPECT_EQ(v(sigmoid(x))[1], 1.0);
    EXPECT_EQ(v(sigmoid(x))[2], 0.0);
    EXPECT_EQ(v(sigmoid(x))[3], 0.5);
    EXPECT_TRUE(std::isnan(v(tanh(x))[0]));
    EXPECT_EQ(v(tanh(x))[1], 1.0);
    EXPECT_EQ(v(tanh(x))[2], -1.0);
    EXPECT_TRUE(std::isnan(v(exp(x))[0]));
    EXPECT_EQ(v(exp(x))[1], inf);
    EXPECT_EQ(v(exp(x))[2], 0.0);
    EXPECT_EQ(v(exp(x))[3], 1.0);
    EXPECT_EQ(v(rsqrt(x))[3], inf);
    EXPECT_EQ(v(eq(x, x)), (std::vector<double>{0, 1, 1, 1}));  // NaN != NaN
    // relu keeps NaN (PyTorch 1.13: relu([nan, inf, -inf, 0, -0]) = [nan, inf, 0, 0, -0]), and its gradient passes
    // where the output is NaN (threshold_backward: zero only where output <= 0), so a NaN input cannot hide.
    Tensor leaf = tensor<double>({nan, inf, -inf, 0.0, -0.0}).to(dtype).detach().requires_grad_();
    const Tensor y = relu(leaf);
    const std::vector<double> out = v(y);
    EXPECT_TRUE(std::isnan(out[0]));
    EXPECT_EQ(out[1], inf);
    EXPECT_EQ((std::vector<double>{out[2], out[3], out[4]}), (std::vector<double>{0, 0, 0}));
    EXPECT_TRUE(std::signbit(out[4]));
    y.backward(ones({5}, {.dtype = dtype}));
    EXPECT_EQ(v(leaf.grad()), (std::vector<double>{1, 1, 0, 0, 0}));
    EXPECT_EQ(v(logical_not(x)), (std::vector<double>{0, 0, 0, 1}));
  }
}

// A fractional alpha on integer tensors is refused, as PyTorch refuses it (the kernel's integer alpha added 0 * b).
TEST(Pointwise, FractionalAlphaOnIntegersIsAnError) {
  const Tensor a = tensor<int64_t>({1, 2, 3}), b = tensor<int64_t>({4, 5, 6});
  expect_error([&] { add(a, b, 0.5); }, {"add", "alpha 0.5", "i64"});
  expect_error([&] { sub(a, b, 1.5); }, {"sub", "alpha 1.5"});
  EXPECT_EQ(add(a, b, 2.0).to_vector<int64_t>(), (std::vector<int64_t>{9, 12, 15}));
  EXPECT_EQ(add(a.to(DType::f32), b, 0.5).to_vector<float>(), (std::vector<float>{3, 4.5, 6}));
}

// Subtraction with a bool operand is refused, as PyTorch refuses it ("Subtraction, the `-` operator, with a bool
// tensor is not supported"): the error names the op and the alternatives.
TEST(Pointwise, BoolSubtractionIsAnError) {
  const std::vector<std::string> message = {"sub", "bool tensor", "logical_not", "ne(a, b)"};
  expect_error([] { sub(bools({1, 0}), bools({1, 1})); }, message);
  expect_error([] { bools({1, 0}) - 1.0; }, message);
  expect_error([] { 1.0 - bools({1, 0}); }, message);
  expect_error([] { bools({1, 0}) - tensor<float>({1, 2}); }, message);
  expect_error([] { tensor<int64_t>({1, 2}) - bools({1, 0}); }, message);
  EXPECT_EQ((bools({1, 0}) + -1.0).to_vector<int64_t>(), (std::vector<int64_t>{0, -1}));  // i64, as PyTorch
}

// x / s is true division, as torch's x / s: an integer or bool tensor gives the default float type whatever s is
// (it was x * (1 / s): u8 / 0.5 stayed u8 and wrapped, i64 / 1.0 stayed i64), each quotient is rounded once
// (x * (1 / s) is off by one ulp for about a third of f32 values over 3), 1 / s overflowing does not make it inf,
// and the gradient is g / s.
TEST(Pointwise, DivisionByANumberIsTrueDivision) {
  const Tensor u8 = tensor<uint8_t>({0, 1, 200});
  EXPECT_EQ((u8 / 0.5).dtype(), DType::f32);
  EXPECT_EQ((u8 / 0.5).to_vector<double>(), (std::vector<double>{0, 2, 400}));
  EXPECT_EQ((tensor<int64_t>({3, -4}) / 1.0).dtype(), DType::f32);
  EXPECT_EQ((bools({1, 0}) / 1.0).dtype(), DType::f32);
  for (DType dtype : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = uniform_tensor({1000}, dtype, 21, 0.0, 10.0).requires_grad_();
    const Tensor three = full_like(x, 3.0);
    const Tensor q = x / 3.0;
    EXPECT_EQ(q.to_vector<double>(), div(x.detach(), three).to_vector<double>());
    q.backward(ones_like(q));
    EXPECT_EQ(x.grad().to_vector<double>(), div(ones_like(q), three).to_vector<double>());
  }
  const Tensor tiny = tensor<float>({1e-3f}) / 2e-39;  // 1 / 2e-39 is past f32's range; 1e-3 / 2e-39 is not
  EXPECT_EQ(tiny.to_vector<float>(), div(tensor<float>({1e-3f}), tensor<float>({2e-39f})).to_vector<float>());
  EXPECT_TRUE(std::isfinite(tiny.item<float>()));
  testing::expect_matches_torch_exprs({
      {"a / 0.5", [](const Inputs& x) { return x[0] / 0.5; }, {u8}},
      {"a / 1.0", [](const Inputs& x) { return x[0] / 1.0; }, {tensor<int32_t>({-2, 0, 7})}},
      {"a / 3.0", [](const Inputs& x) { return x[0] / 3.0; }, {uniform_tensor({5}, DType::f64, 22)}},
  });
}

// Integer add, sub, mul, sum, neg and abs wrap in two's complement, as PyTorch's, and (-1)^INT64_MIN is 1. Signed
// overflow was undefined behaviour in C++ (a compiler may assume it never happens; UBSan flagged each); they now
// compute in the unsigned type of the same width.
TEST(Pointwise, IntegerArithmeticWrapsAsPyTorch) {
  const Tensor i32 = tensor<int32_t>({2147483647, -2147483647 - 1, 65536, -3});
  const Tensor step = tensor<int32_t>({1, -1, 65536, 5});
  const Tensor i64 = tensor<int64_t>({int64_t{1} << 62, int64_t{1} << 62, int64_t{3} << 61, -7});
  testing::expect_matches_torch_exprs({
      {"a + b", [](const Inputs& x) { return x[0] + x[1]; }, {i32, step}},
      {"a - b", [](const Inputs& x) { return x[0] - x[1]; }, {i32, -step}},
      {"a * b", [](const Inputs& x) { return x[0] * x[1]; }, {i32, step}},
      {"a + 2 * b", [](const Inputs& x) { return add(x[0], x[1], 2.0); }, {i32, step}},
      {"a * a", [](const Inputs& x) { return x[0] * x[0]; }, {i64}},
      {"a.sum()", [](const Inputs& x) { return x[0].sum(); }, {i64}},
      {"a.reshape(2, 2).sum(0)", [](const Inputs& x) { return x[0].reshape({2, 2}).sum({0}); }, {i64}},
      {"a.reshape(2, 2).sum(1)", [](const Inputs& x) { return x[0].reshape({2, 2}).sum({1}); }, {i64}},
      {"-a", [](const Inputs& x) { return -x[0]; }, {i32}},
      {"torch.abs(a)", [](const Inputs& x) { return abs(x[0]); }, {i32}},
      {"torch.abs(a)", [](const Inputs& x) { return abs(x[0]); }, {tensor<int64_t>({INT64_MIN, -5, 7})}},
      {"torch.pow(a, b)", [](const Inputs& x) { return pow(x[0], x[1]); },
       {tensor<int64_t>({-1, -1, 2}), tensor<int64_t>({INT64_MIN, INT64_MIN + 1, 3})}},
  });
}

// An integer tensor's clamp bounds must fit its dtype, as PyTorch checks them ("value cannot be converted to type
// int without overflow"): converted unchecked, clamp(i32, max=1e10) was undefined behaviour (INT_MIN everywhere on
// x86). u8 takes -255..255, a negative bound wrapping, as PyTorch (min=-1 is min=255).
TEST(Pointwise, ClampBoundsMustFitAnIntegerDtype) {
  const Tensor i32 = tensor<int32_t>({5, 100, -7});
  const Tensor u8 = tensor<uint8_t>({5, 100, 250});
  expect_error([&] { clamp(i32, std::nullopt, 1e10); }, {"clamp", "max", "i32", "overflow"});
  expect_error([&] { clamp(i32, -1e10, std::nullopt); }, {"clamp", "min", "i32", "overflow"});
  expect_error([&] { clamp(u8, std::nullopt, 300.0); }, {"clamp", "max", "u8", "overflow"});
  expect_error([&] { clamp(u8, -256.0, std::nullopt); }, {"clamp", "min", "u8", "overflow"});
  EXPECT_EQ(clamp(i32, -2147483648.0, 2147483647.0).to_vector<int32_t>(), i32.to_vector<int32_t>());
  testing::expect_matches_torch_exprs({
      {"torch.clamp(a, min=-1)", [](const Inputs& x) { return clamp(x[0], -1.0, std::nullopt); }, {u8}},
      {"torch.clamp(a, -255, 255)", [](const Inputs& x) { return clamp(x[0], -255.0, 255.0); }, {u8}},
      {"torch.clamp(a, max=2147483647)", [](const Inputs& x) { return clamp(x[0], std::nullopt, 2147483647.0); },
       {i32}},
  });
}

TEST(Pointwise, ResultDtypes) {
  const Tensor i = tensor<int64_t>({1, 2});
  EXPECT_EQ(relu(i).dtype(), DType::i64);
  EXPECT_EQ(pow(i, 2.0).dtype(), DType::i64);  // an integral double counts as an integer
  EXPECT_EQ(pow(i, 2.5).dtype(), DType::f32);
  EXPECT_EQ(clamp(bools({true}), 0.0, 1.0).dtype(), DType::i64);
  EXPECT_EQ(sigmoid(i).dtype(), DType::f32);
  EXPECT_EQ(gt(i, 1.0).dtype(), DType::boolean);
  EXPECT_EQ(where(gt(i, 1.0), i, tensor<double>({0.5, 1})).dtype(), DType::f64);
  EXPECT_EQ(masked_fill(i, gt(i, 1.0), 7.9).to_vector<int64_t>(), (std::vector<int64_t>{1, 7}));
}

TEST(Pointwise, NoGradientForComparisonsAndThroughMaskedValues) {
  Tensor x = tensor<double>({-1, 2, 3}).requires_grad_();
  EXPECT_FALSE(gt(x, 0.0).requires_grad());
  Tensor y = masked_fill(x, bools({false, true, false}), 9.0);
  (y * y).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{-2, 0, 6}));
  Tensor a = tensor<float>({1, 2}).requires_grad_();
  Tensor b = tensor<double>({3, 4}).requires_grad_();
  Tensor w = where(bools({true, false}), a, b);  // promotes to f64; each gradient in its input's dtype
  EXPECT_EQ(w.dtype(), DType::f64);
  w.sum().backward();
  EXPECT_EQ(a.grad().dtype(), DType::f32);
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{1, 0}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{0, 1}));
}

TEST(Pointwise, ErrorsNameTheOp) {
  const Tensor i = tensor<int64_t>({1, 2});
  const Tensor b = bools({true, false});
  expect_error([&] { clamp(tensor<float>({1}), std::nullopt, std::nullopt); }, "clamp");
  expect_error([&] { pow(i, -1.0); }, "negative integer powers");
  expect_error([&] { gelu(i); }, "gelu");
  expect_error([&] { leaky_relu(i); }, "leaky_relu");
  expect_error([&] { silu(i); }, "silu");
  expect_error([&] { relu(b); }, "relu");
  expect_error([&] { abs(b); }, "abs");
  expect_error([&] { where(i, i, i); }, "where");
  expect_error([&] { masked_fill(i, i, 0.0); }, "masked_fill");
  expect_error([&] { eq(tensor<float>({1, 2, 3}), tensor<float>({1, 2})); }, "broadcast");
}

// ---------------------------------------------------------------- vectorised f32 paths

// exp, sigmoid and tanh in f32 over a dense sweep of their range, in a tensor big enough for several threads,
// against the f64 results rounded to f32: within 4 ulp (relative 5e-7), and exact at the saturation points.
TEST(Pointwise, VectorisedF32MatchesDouble) {
  const int64_t n = 200001;
  const Tensor x64 = arange(-100.0, 100.0 + 1e-9, 200.0 / (n - 1), {.dtype = DType::f64});
  const Tensor x = x64.to(DType::f32);
  const Tensor xd = x.to(DType::f64);  // the exact f32 inputs
  struct Op {
    const char* name;
    Tensor (*fn)(const Tensor&);
  };
  for (Op op : {Op{"exp", &exp}, Op{"sigmoid", &sigmoid}, Op{"tanh", &tanh}}) {
    SCOPED_TRACE(op.name);
    const std::vector<double> got = op.fn(x).to_vector<double>();
    const std::vector<double> want = op.fn(xd).to(DType::f32).to_vector<double>();
    int failures = 0;
    for (size_t k = 0; k < got.size() && failures < 5; ++k) {
      if (got[k] == want[k]) continue;  // includes the infinities
      if (std::abs(want[k]) < std::numeric_limits<float>::min()) {  // denormals: absolute error only
        if (std::abs(got[k] - want[k]) > 1e-44) ++failures, ADD_FAILURE() << "x = " << xd.to_vector<double>()[k];
        continue;
      }
      if (!(std::abs(got[k] - want[k]) <= 5e-7 * std::abs(want[k])))
        ++failures, ADD_FAILURE() << "x = " << xd.to_vector<double>()[k] << ": " << got[k] << " vs " << want[k];
    }
  }
}

}  // namespace
}  // namespace tessera
