// batch_norm, layer_norm and dropout: finite-difference gradients (f64, non-contiguous inputs too), forward,
// backward and the running-statistics update against PyTorch (f32, f64), and dropout's mask properties.
#include <gtest/gtest.h>

#include <bit>

#include "tests/core/index_loss_ref.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

using testing::TorchRefCase;

TEST(Norm, LayerNormMatchesFiniteDifferences) {
  expect_gradients_match([](const Inputs& in) { return layer_norm(in[0], {5}, in[1], in[2]); },
                         {random_leaf({3, 4, 5}, 1), random_leaf({5}, 2), random_leaf({5}, 3)});
  expect_gradients_match([](const Inputs& in) { return layer_norm(in[0], {4, 5}, in[1], in[2], 1e-3); },
                         {noncontiguous_leaf({2, 4, 5}, 4), random_leaf({4, 5}, 5), noncontiguous_leaf({4, 5}, 6)});
  expect_gradients_match([](const Inputs& in) { return layer_norm(in[0], {6}); }, {noncontiguous_leaf({3, 6}, 7)});
}

// Layer norm's weight and bias gradients are summed over rows in row order: the same bits at any thread count.
// Per-thread partial sums merged under a lock depended on the thread count, and past 2 threads on which thread took
// the lock first (in f64; in f32 when the f64 sums round differently).
TEST(Norm, LayerNormGradientsDoNotDependOnTheThreadCount) {
  for (const DType dtype : {DType::f64, DType::f32}) {
    Tensor x = random_leaf({2048, 96}, 8).detach().to(dtype).requires_grad_();
    Tensor w = random_leaf({96}, 9).detach().to(dtype).requires_grad_();
    Tensor b = random_leaf({96}, 10).detach().to(dtype).requires_grad_();
    const Tensor gy = random_leaf({2048, 96}, 11).detach().to(dtype);
    testing::expect_parallel_matches_serial([&] {
      for (Tensor* t : {&x, &w, &b}) t->set_grad(Tensor());
      (layer_norm(x, {96}, w, b) * gy).sum().backward();
      return std::vector<Tensor>{x.grad(), w.grad(), b.grad()};
    });
  }
}

TEST(Norm, BatchNormMatchesFiniteDifferences) {
  // Training: batch statistics (no running stats, so repeated evaluation is pure).
  expect_gradients_match([](const Inputs& in) { return batch_norm(in[0], {}, {}, in[1], in[2], true); },
                         {random_leaf({4, 3}, 1), random_leaf({3}, 2), random_leaf({3}, 3)});
  expect_gradients_match([](const Inputs& in) { return batch_norm(in[0], {}, {}, in[1], in[2], true, 0.1, 1e-3); },
                         {noncontiguous_leaf({2, 3, 4, 5}, 4), random_leaf({3}, 5), random_leaf({3}, 6)});
  expect_gradients_match([](const Inputs& in) { return batch_norm(in[0], {}, {}, {}, {}, true); },
                         {random_leaf({3, 2, 5}, 7)});
  // Eval: running statistics.
  const Tensor mean = uniform_tensor({3}, DType::f64, 8), var = uniform_tensor({3}, DType::f64, 9) + 1.5;
  expect_gradients_match([&](const Inputs& in) { return batch_norm(in[0], mean, var, in[1], in[2], false); },
                         {noncontiguous_leaf({2, 3, 4}, 10), random_leaf({3}, 11), random_leaf({3}, 12)});
}

// What the backward branches on besides affine/no affine: an input that takes no gradient (a first layer's data:
// the backend gets no input-gradient buffer but must still sum the parameter gradients), a weight without a bias
// and a bias without a weight, and eval mode without affine parameters.
TEST(Norm, PartialGradientsAndOptionalParametersMatchFiniteDifferences) {
  const Tensor data = uniform_tensor({3, 4, 5}, DType::f64, 20);  // requires no grad
  expect_gradients_match([&](const Inputs& in) { return layer_norm(data, {5}, in[0], in[1]); },
                         {random_leaf({5}, 21), random_leaf({5}, 22)});
  expect_gradients_match([](const Inputs& in) { return layer_norm(in[0], {4, 5}, in[1], Tensor()); },
                         {noncontiguous_leaf({2, 4, 5}, 23), random_leaf({4, 5}, 24)});
  expect_gradients_match([](const Inputs& in) { return layer_norm(in[0], {5}, Tensor(), in[1]); },
                         {random_leaf({3, 5}, 25), random_leaf({5}, 26)});
  const Tensor images = uniform_tensor({2, 3, 4, 5}, DType::f64, 27);  // requires no grad
  expect_gradients_match([&](const Inputs& in) { return batch_norm(images, {}, {}, in[0], in[1], true); },
                         {random_leaf({3}, 28), random_leaf({3}, 29)});
  expect_gradients_match([](const Inputs& in) { return batch_norm(in[0], {}, {}, in[1], Tensor(), true); },
                         {noncontiguous_leaf({4, 3, 5}, 30), random_leaf({3}, 31)});
  const Tensor mean = uniform_tensor({3}, DType::f64, 32), var = uniform_tensor({3}, DType::f64, 33) + 1.5;
  expect_gradients_match([&](const Inputs& in) { return batch_norm(in[0], mean, var, Tensor(), Tensor(), false); },
                         {noncontiguous_leaf({2, 3, 4}, 34)});
  expect_gradients_match([&](const Inputs& in) { return batch_norm(images, mean, var, in[0], in[1], false); },
                         {random_leaf({3}, 35), random_leaf({3}, 36)});
}

TEST(Norm, MatchesTorch) {
  if (!testing::torch_available()) GTEST_SKIP() << "python3 with torch not found";
  std::vector<TorchRefCase> cases;
  uint64_t seed = 100;
  struct LnCase {
    Shape x, normalized;
    bool affine;
    double eps;
  };
  struct BnCase {
    Shape x;
    bool affine, training;
    double momentum, eps;
  };
  const std::vector<LnCase> ln = {{{4, 7}, {7}, true, 1e-5}, {{2, 3, 4, 5}, {4, 5}, true, 1e-3},
                                  {{3, 8}, {8}, false, 1e-5}, {{2, 16, 64}, {64}, true, 1e-5}};
  const std::vector<BnCase> bn = {{{8, 3}, true, true, 0.1, 1e-5},   {{4, 3, 5, 5}, true, true, 0.3, 1e-3},
                                  {{2, 4, 6}, false, true, 0.1, 1e-5}, {{4, 3, 5, 5}, true, false, 0.1, 1e-5},
                                  {{3, 2, 3, 3, 2}, true, true, 0.1, 1e-5}};
  // A case for norm.py: handler `op` with `options`; an affine weight and bias, or undefined ones.
  const auto norm_case = [&](const std::string& op, const json& options, bool affine, const Shape& param_shape,
                             DType dtype, std::function<Tensor(const Inputs&)> fn, const Shape& x) {
    const auto param = [&](uint64_t s) {
      return affine ? uniform_tensor(param_shape, dtype, s).requires_grad_() : Tensor();
    };
    return TorchRefCase{op + " " + options.dump() + " " + dtype_name(dtype), {{"op", op}, {"options", options}},
                        std::move(fn),
                        {uniform_tensor(x, dtype, seed).requires_grad_(), param(seed + 1), param(seed + 2)}};
  };
  std::vector<size_t> bn_cases;
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const LnCase& c : ln) {
      cases.push_back(norm_case("layer_norm", {{"normalized_shape", c.normalized}, {"eps", c.eps}}, c.affine,
                                c.normalized, dtype,
                                [c](const Inputs& in) { return layer_norm(in[0], c.normalized, in[1], in[2], c.eps); },
                                c.x));
      seed += 3;
    }
    for (const BnCase& c : bn) {
      const int64_t ch = c.x[1];
      TorchRefCase ref = norm_case(
          "batch_norm", {{"training", c.training}, {"momentum", c.momentum}, {"eps", c.eps}}, c.affine, {ch}, dtype,
          [c](const Inputs& in) {
            return batch_norm(in[0], in[3], in[4], in[1], in[2], c.training, c.momentum, c.eps);
          },
          c.x);
      ref.leaves.push_back(uniform_tensor({ch}, dtype, seed + 3));        // running mean
      ref.leaves.push_back(uniform_tensor({ch}, dtype, seed + 4) + 1.5);  // running var
      bn_cases.push_back(cases.size());
      cases.push_back(std::move(ref));
      seed += 5;
    }
  }
  // The same variants against PyTorch (f32 runs the vectorised loops): no input gradient, one affine parameter
  // without the other, eval without affine parameters.
  for (DType dtype : {DType::f32, DType::f64}) {
    const auto leaf = [&](const Shape& s, uint64_t k, bool grad = true) {
      return uniform_tensor(s, dtype, seed + k).requires_grad_(grad);
    };
    const auto ln = [&](const std::string& what, Tensor x, Tensor w, Tensor b) {
      cases.push_back({"layer_norm " + what + " " + dtype_name(dtype),
                       {{"op", "layer_norm"}, {"options", {{"normalized_shape", json::array({6})}, {"eps", 1e-5}}}},
                       [](const Inputs& in) { return layer_norm(in[0], {6}, in[1], in[2]); },
                       {x, w, b}});
    };
    ln("input without gradient", leaf({4, 6}, 0, false), leaf({6}, 1), leaf({6}, 2));
    ln("weight only", leaf({4, 6}, 3), leaf({6}, 4), Tensor());
    ln("bias only", leaf({4, 6}, 5), Tensor(), leaf({6}, 6));
    const auto bn = [&](const std::string& what, bool training, Tensor x, Tensor w, Tensor b) {
      bn_cases.push_back(cases.size());
      cases.push_back({"batch_norm " + what + " " + dtype_name(dtype),
                       {{"op", "batch_norm"}, {"options", {{"training", training}, {"momentum", 0.1}, {"eps", 1e-5}}}},
                       [training](const Inputs& in) {
                         return batch_norm(in[0], in[3], in[4], in[1], in[2], training, 0.1, 1e-5);
                       },
                       {x, w, b, uniform_tensor({3}, dtype, seed + 7), uniform_tensor({3}, dtype, seed + 8) + 1.5}});
    };
    bn("train, input without gradient", true, leaf({4, 3, 5}, 9, false), leaf({3}, 10), leaf({3}, 11));
    bn("eval, input without gradient", false, leaf({4, 3, 5}, 12, false), leaf({3}, 13), leaf({3}, 14));
    bn("train, weight only", true, leaf({4, 3, 2, 2}, 15), leaf({3}, 16), Tensor());
    bn("eval, no affine", false, leaf({4, 3, 5}, 17), Tensor(), Tensor());
    seed += 20;
  }
  json answers;
  ASSERT_NO_FATAL_FAILURE(
      testing::expect_matches_torch_script("norm.py", cases, testing::accumulation_tolerance, &answers));
  for (size_t c : bn_cases) {  // the running statistics were updated in place, as PyTorch does
    SCOPED_TRACE("batch_norm case " + std::to_string(c));
    const double tol = cases[c].leaves[0].dtype() == DType::f64 ? 1e-12 : 1e-6;
    expect_close(cases[c].leaves[3], tensor_from_json(answers[c]["running_mean"]), tol, tol);
    expect_close(cases[c].leaves[4], tensor_from_json(answers[c]["running_var"]), tol, tol);
  }
}

// PyTorch's error for batch statistics of one value per channel, with the usual cause: a batch of one sample.
TEST(Norm, BatchNormOfOneSampleNamesTheCause) {
  const Tensor mean = zeros({8}), var = ones({8});
  expect_error([&] { batch_norm(zeros({1, 8}), mean, var, Tensor(), Tensor(), /*training=*/true); },
               {"expected more than 1 value per channel when training", "[1, 8]", "a batch of one sample"});
  EXPECT_EQ(batch_norm(zeros({1, 8}), mean, var, Tensor(), Tensor(), /*training=*/false).shape(), (Shape{1, 8}));
}

TEST(Norm, BatchNormUpdatesRunningStatsInPlace) {
  Tensor x = tensor<double>({1, 2, 3, 5}, {4, 1}).requires_grad_();
  Tensor rm = zeros({1}, {.dtype = DType::f64}), rv = ones({1}, {.dtype = DType::f64});
  const uint32_t version = rm.version();
  const Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.5);
  EXPECT_GT(rm.version(), version);
  EXPECT_DOUBLE_EQ(rm.item<double>(), 0.5 * 2.75);                          // mean 2.75
  EXPECT_DOUBLE_EQ(rv.item<double>(), 0.5 + 0.5 * (8.75 / 3.0));            // unbiased var 8.75 / 3
  EXPECT_FALSE(rm.requires_grad());
  const Tensor eval = batch_norm(x, rm, rv, Tensor(), Tensor(), false);     // eval leaves them alone
  EXPECT_DOUBLE_EQ(rm.item<double>(), 0.5 * 2.75);
  EXPECT_THROW(batch_norm(zeros({1, 3}), zeros({3}), ones({3}), Tensor(), Tensor(), true), Error);
  EXPECT_THROW(batch_norm(zeros({2, 3}), zeros({2}), ones({3}), Tensor(), Tensor(), true), Error);
  EXPECT_THROW(layer_norm(zeros({2, 3}), {2}), Error);
}

TEST(Norm, DropoutIsIdentityWhenOffAndZeroAtOne) {
  Tensor x = uniform_tensor({10, 10}, DType::f32, 1).requires_grad_();
  EXPECT_TRUE(dropout(x, 0.0, true).is_same(x));
  EXPECT_TRUE(dropout(x, 0.7, false).is_same(x));
  const Tensor y = dropout(x, 1.0, true);
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(100, 0.0f));
  y.sum().backward();
  EXPECT_EQ(x.grad().to_vector<float>(), std::vector<float>(100, 0.0f));
  EXPECT_THROW(dropout(x, 1.5, true), Error);
}

TEST(Norm, DropoutScalesSurvivorsAndBackwardUsesTheMask) {
  const double p = 0.3;
  Tensor x = (uniform_tensor({200, 500}, DType::f64, 2) + 2.0).detach().requires_grad_();  // no zeros in x
  Generator gen(42);
  const Tensor y = dropout(x, p, true, gen);
  y.backward(ones_like(y));
  const std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>(), gv = x.grad().to_vector<double>();
  int64_t dropped = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    if (yv[i] == 0.0) {
      ++dropped;
      EXPECT_EQ(gv[i], 0.0);
    } else {
      EXPECT_NEAR(yv[i], xv[i] / (1 - p), 1e-12);
      EXPECT_NEAR(gv[i], 1 / (1 - p), 1e-12);
    }
  }
  EXPECT_NEAR(static_cast<double>(dropped) / xv.size(), p, 0.01);
  Generator same(42), other(43);
  EXPECT_EQ(dropout(x.detach(), p, true, same).to_vector<double>(), yv);
  EXPECT_NE(dropout(x.detach(), p, true, other).to_vector<double>(), yv);
  expect_gradients_match([](const Inputs& in) {
    Generator g(7);
    return dropout(in[0], 0.4, true, g);
  }, {noncontiguous_leaf({4, 5}, 3)});
}

// The mask and the product come from one backend call (Backend::dropout): bitwise what the two steps it replaces
// give, a mask drawn as "uniform < 1 - p" from the same stream words, times x. In every floating dtype, from an offset
// inside a Philox block, on a non-contiguous input holding a NaN and infinities; the gradient is g times that mask.
TEST(Norm, DropoutIsTheMaskTimesXBitwise) {
  const double p = 0.35;
  const auto bits = [](const Tensor& t) {
    std::vector<uint64_t> out;
    for (double v : t.to(DType::f64).to_vector<double>()) out.push_back(std::bit_cast<uint64_t>(v));
    return out;
  };
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const TensorOptions options{.dtype = dtype, .device = default_device()};
    Generator values(3);
    Tensor base = randn({41, 23}, values, options);
    const auto set = [&](int64_t row, int64_t col, double v) {
      base.slice(0, row, row + 1).slice(1, col, col + 1).fill_(v);
    };
    set(0, 1, NAN);
    set(5, 7, INFINITY);
    set(9, 2, -INFINITY);
    const Tensor x = base.t().detach().requires_grad_();  // (23, 41), not contiguous
    Generator fused(17), reference(17);
    rand({5}, fused, options);  // an offset of 5 elements' words: not at a Philox block's start
    rand({5}, reference, options);
    const Tensor y = dropout(x, p, true, fused);
    const Tensor u = rand(x.shape(), reference, {.dtype = DType::f32, .device = default_device()});
    const Tensor mask = where(lt(u, static_cast<double>(static_cast<float>(1.0 - p))),
                              full({}, 1.0 / (1.0 - p), options), zeros({}, options));
    EXPECT_EQ(bits(y), bits(mul(x.detach(), mask)));
    EXPECT_EQ(fused.offset(), reference.offset());
    const Tensor g = randn(x.shape(), values, options);
    y.backward(g);
    EXPECT_EQ(bits(x.grad()), bits(mul(g, mask)));
  }
}

}  // namespace
}  // namespace tessera
