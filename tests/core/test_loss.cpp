// Losses: cross_entropy (reductions, ignore_index, label smoothing, (N, C) / (N, C, d...) / (C) inputs), nll_loss
// and mse_loss. Finite-difference gradients in f64 (non-contiguous inputs included), numerical stability, errors,
// and values + gradients against PyTorch for f32 and f64 (one batched python call).
#include <gtest/gtest.h>

#include <cmath>

#include "core/core.h"
#include "tests/core/index_loss_ref.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::none: return "none";
    case Reduction::mean: return "mean";
    case Reduction::sum: return "sum";
  }
  return "?";
}

constexpr Reduction kReductions[] = {Reduction::none, Reduction::mean, Reduction::sum};

TEST(LossOps, CrossEntropyValueByHand) {
  Tensor logits = tensor<double>({1, 2, 3, 1, 1, 1}, {2, 3});
  Tensor target = idx({2, 0});
  const double z0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double l0 = z0 - 3, l1 = std::log(3.0);
  EXPECT_NEAR(cross_entropy(logits, target).item<double>(), (l0 + l1) / 2, 1e-14);
  EXPECT_NEAR(cross_entropy(logits, target, Reduction::sum).item<double>(), l0 + l1, 1e-14);
  // Ignored element: no loss, and the mean counts only the other one.
  EXPECT_NEAR(cross_entropy(logits, idx({2, -100})).item<double>(), l0, 1e-14);
  EXPECT_EQ(cross_entropy(logits, idx({2, 1}), Reduction::none, 1).to_vector<double>()[1], 0.0);
  // Smoothing eps: (1 - eps) * nll + eps / C * sum_c(-log p_c).
  const double eps = 0.2, smooth0 = 3 * z0 - 6;
  EXPECT_NEAR(cross_entropy(logits, idx({2, -100}), Reduction::mean, -100, eps).item<double>(),
              (1 - eps) * l0 + eps / 3 * smooth0, 1e-14);
}

TEST(LossOps, CrossEntropyIsStableForHugeLogits) {
  Tensor logits = tensor<float>({1e4f, 0.0f, -1e4f, 5e3f, 5e3f, 5e3f}, {2, 3}).requires_grad_();
  Tensor loss = cross_entropy(logits, idx({0, 1}), Reduction::none, -100, 0.1);
  const std::vector<float> l = loss.to_vector<float>();
  EXPECT_NEAR(l[0], 0.1f / 3 * (0 + 1e4f + 2e4f), 1e-1f);  // -log p = 0, 1e4, 2e4
  EXPECT_NEAR(l[1], std::log(3.0f), 1e-5f);
  loss.sum().backward();
  for (float g : logits.grad().to_vector<float>()) EXPECT_TRUE(std::isfinite(g));
}

TEST(LossOps, MeanOverOnlyIgnoredTargetsIsNanWithZeroGradient) {
  Tensor logits = random_leaf({2, 3}, 1);
  Tensor loss = cross_entropy(logits, idx({-100, -100}), Reduction::mean, -100, 0.1);
  EXPECT_TRUE(std::isnan(loss.item<double>()));
  loss.backward();
  for (double g : logits.grad().to_vector<double>()) EXPECT_EQ(g, 0.0);
}

TEST(LossOps, CrossEntropyGradientsMatchFiniteDifferences) {
  const Tensor target = idx({2, 0, 4, 1, 4});
  const Tensor with_ignored = idx({2, -100, 4, 1, -100});
  for (Reduction r : kReductions) {
    for (double eps : {0.0, 0.3}) {
      SCOPED_TRACE(std::string(reduction_name(r)) + " eps " + std::to_string(eps));
      expect_gradients_match([&](const Inputs& in) { return cross_entropy(in[0], target, r, -100, eps); },
                             {random_leaf({5, 5}, 1, -3, 3)});
      expect_gradients_match([&](const Inputs& in) { return cross_entropy(in[0], with_ignored, r, -100, eps); },
                             {noncontiguous_leaf({5, 5}, 2, -3, 3)});
      // ignore_index inside [0, C): class 1 is ignored.
      expect_gradients_match([&](const Inputs& in) { return cross_entropy(in[0], target, r, 1, eps); },
                             {random_leaf({5, 5}, 3, -3, 3)});
      // (N, C, d1, d2) and unbatched (C).
      expect_gradients_match(
          [&](const Inputs& in) { return cross_entropy(in[0], idx({0, 2, -100, 1, 1, 0, 2, 2}, {2, 2, 2}), r, -100, eps); },
          {noncontiguous_leaf({2, 3, 2, 2}, 4, -3, 3)});
      expect_gradients_match([&](const Inputs& in) { return cross_entropy(in[0], idx({3}, {}), r, -100, eps); },
                             {random_leaf({4}, 5, -3, 3)});
    }
  }
}

TEST(LossOps, NllAndMseGradientsMatchFiniteDifferences) {
  for (Reduction r : kReductions) {
    SCOPED_TRACE(reduction_name(r));
    expect_gradients_match([&](const Inputs& in) { return nll_loss(in[0], idx({2, -100, 0, 1}), r); },
                           {noncontiguous_leaf({4, 3}, 1)});
    expect_gradients_match([&](const Inputs& in) { return nll_loss(in[0], idx({2, 0, 1, 1, 0, 2}, {2, 3}), r, 0); },
                           {random_leaf({2, 3, 3}, 2)});
    expect_gradients_match([&](const Inputs& in) { return mse_loss(in[0], in[1], r); },
                           {noncontiguous_leaf({3, 4}, 3), random_leaf({3, 4}, 4)});
  }
  // binary cross-entropy at logits up to +-30 (no overflow), L1 and Huber away from their kinks.
  for (Reduction r : kReductions) {
    SCOPED_TRACE(reduction_name(r));
    expect_gradients_match([&](const Inputs& in) { return binary_cross_entropy_with_logits(in[0], in[1], r); },
                           {noncontiguous_leaf({3, 4}, 5), random_leaf({3, 4}, 6, 0.0, 1.0)});
    expect_gradients_match([&](const Inputs& in) { return l1_loss(in[0], in[1], r); },
                           {random_leaf({3, 4}, 7), random_leaf({3, 4}, 8)});
    expect_gradients_match([&](const Inputs& in) { return huber_loss(in[0], in[1], r, 0.3); },
                           {random_leaf({3, 4}, 9), random_leaf({3, 4}, 10)});
  }
  const Tensor big = tensor(std::vector<double>{-30, 30, 0}), labels = tensor(std::vector<double>{1, 0, 1});
  testing::expect_close(binary_cross_entropy_with_logits(big, labels, Reduction::none),
                        tensor(std::vector<double>{30, 30, std::log(2.0)}), 1e-12, 1e-12);
  // An infinite logit gives an infinite loss where PyTorch's does (x = +inf with y < 1), not inf - inf = NaN.
  const double inf = std::numeric_limits<double>::infinity();
  for (DType dtype : {DType::f32, DType::f64}) {
    // Targets on both sides of 1/2: (1/2 - y) x + |x|/2 was inf - inf at x = +inf for y >= 1/2.
    const Tensor logits = tensor(std::vector<double>{inf, inf, -inf, 1e4, -1e4, inf, inf, inf}).to(dtype);
    const Tensor y = tensor(std::vector<double>{0, 0.25, 0, 1, 1, 0.5, 0.75, 0.99}).to(dtype);
    const std::vector<double> loss = binary_cross_entropy_with_logits(logits, y, Reduction::none).to_vector<double>();
    EXPECT_EQ(loss[0], inf) << dtype_name(dtype);
    EXPECT_EQ(loss[1], inf) << dtype_name(dtype);
    EXPECT_TRUE(std::isnan(loss[2])) << dtype_name(dtype);  // PyTorch: -inf + inf
    EXPECT_EQ(loss[3], 0.0) << dtype_name(dtype);
    EXPECT_EQ(loss[4], 1e4) << dtype_name(dtype);
    for (size_t i = 5; i < loss.size(); ++i) EXPECT_EQ(loss[i], inf) << dtype_name(dtype) << " y " << i;
  }
  expect_error([&] { huber_loss(zeros({2}), zeros({2}), Reduction::mean, 0); }, {"huber_loss", "delta"});
  expect_error([&] { l1_loss(zeros({2, 3}), zeros({3, 2})); }, {"l1_loss", "[2, 3]", "[3, 2]"});
  // cross_entropy == nll_loss(log_softmax) without smoothing.
  Tensor x = random_leaf({4, 5}, 6);
  Tensor t = idx({4, 0, -100, 2});
  testing::expect_close(cross_entropy(x, t), nll_loss(log_softmax(x, 1), t), 1e-14, 1e-12);
}

TEST(LossOps, Float32AndHalfTypesMatchFloat64) {
  Tensor x64 = random_leaf({300, 10}, 7, -8.0, 8.0).detach();
  Tensor t = randint(0, 10, {300});
  for (double eps : {0.0, 0.1}) {
    const Tensor expected = cross_entropy(x64, t, Reduction::none, -100, eps);
    testing::expect_close(cross_entropy(x64.to(DType::f32), t, Reduction::none, -100, eps), expected, 2e-6, 2e-6);
    for (DType dt : {DType::bf16, DType::f16}) {
      Tensor xh = x64.to(dt).requires_grad_();
      Tensor loss = cross_entropy(xh, t, Reduction::mean, -100, eps);
      EXPECT_EQ(loss.dtype(), dt);
      EXPECT_NEAR(loss.to(DType::f64).item<double>(), expected.mean().item<double>(), 0.05);
      loss.backward();
      EXPECT_EQ(xh.grad().dtype(), dt);
    }
  }
}

// Float32AndHalfTypesMatchFloat64 checks the half-type gradients' dtype only; the backward kernels are the backend's
// own bf16/f16 instantiations, so check their values: the f64 formula on the same rounded inputs, rounded once to the
// half type (within 2 ulp). cross_entropy: (softmax - smoothed one-hot) / N; nll_loss: -1 / N at the target (0 for
// ignore_index); mse_loss: 2 (x - y) / N, with x - y rounded to the half type first (the saved difference).
TEST(LossOps, HalfTypesGradientsAreTheF64FormulaRounded) {
  const Tensor x64 = random_leaf({40, 7}, 21, -4.0, 4.0).detach();
  const Tensor t = idx({0, 6, 3, -100, 2, 5, 1, 4, 6, 0, 3, 3, 2, 1, 5, 4, 0, 6, 2, 2, 1, 5, 4, 3, 0, 6, 1, 1, 2, 3,
                        4, 5, 6, 0, 1, 2, 3, 4, 5, 6});
  const Tensor y64 = random_leaf({40, 7}, 22, -4.0, 4.0).detach();
  for (DType dt : {DType::bf16, DType::f16}) {
    const double rtol = dt == DType::bf16 ? 1.6e-2 : 2e-3;
    auto grad_of = [&](const Tensor& input, auto loss) {
      Tensor leaf = input.detach().requires_grad_();
      loss(leaf).backward();
      EXPECT_EQ(leaf.grad().dtype(), input.dtype());
      return leaf.grad();
    };
    auto expect_rounded = [&](const Tensor& got, const Tensor& exact64) {
      testing::expect_close(got.to(DType::f64), exact64.to(dt).to(DType::f64), 1e-7, rtol);
    };
    const Tensor xh = x64.to(dt), xr = xh.to(DType::f64);  // xr: the half inputs, exactly
    const Tensor yh = y64.to(dt), yr = yh.to(DType::f64);
    const Tensor valid = logical_not(eq(t, -100.0)).to(DType::f64).unsqueeze(1);
    const Tensor one_hot = eq(t.unsqueeze(1), arange(7).unsqueeze(0)).to(DType::f64);
    const double count = valid.sum().item<double>();
    for (double eps : {0.0, 0.1}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " cross_entropy, label_smoothing " + std::to_string(eps));
      const Tensor target = one_hot * (1.0 - eps) + eps / 7.0;
      expect_rounded(grad_of(xh, [&](const Tensor& x) { return cross_entropy(x, t, Reduction::mean, -100, eps); }),
                     (softmax(xr, 1) - target) * valid / count);
      expect_rounded(grad_of(xh, [&](const Tensor& x) { return cross_entropy(x, t, Reduction::sum, -100, eps) * 0.5; }),
                     (softmax(xr, 1) - target) * valid * 0.5);
    }
    {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " nll_loss");
      expect_rounded(grad_of(xh, [&](const Tensor& x) { return nll_loss(x, t); }), one_hot * valid * (-1.0 / count));
    }
    SCOPED_TRACE(std::string(dtype_name(dt)) + " mse_loss");
    const Tensor diff = (xr - yr).to(dt).to(DType::f64);
    expect_rounded(grad_of(xh, [&](const Tensor& x) { return mse_loss(x, yh); }), diff * (2.0 / 280.0));
    expect_rounded(grad_of(xh, [&](const Tensor& x) { return mse_loss(x, yh, Reduction::sum) * 3.0; }), diff * 6.0);
  }
}

TEST(LossOps, ParallelCrossEntropyMatchesOneThread) {
  Tensor x = random_leaf({5000, 10}, 8, -5.0, 5.0).detach().to(DType::f32).requires_grad_();
  Tensor t = randint(0, 10, {5000});
  auto run = [&] {
    x.set_grad(Tensor());
    Tensor loss = cross_entropy(x, t, Reduction::sum, 3, 0.1);
    loss.backward();
    return std::vector<Tensor>{loss.detach(), x.grad()};
  };
  testing::expect_parallel_matches_serial(run);
}

TEST(LossOps, BadTargetsAreClearErrors) {
  Tensor logits = zeros({3, 4});
  expect_error([&] { cross_entropy(logits, idx({0, 4, 1})); }, {"cross_entropy", "target 4", "4 classes"});
  expect_error([&] { cross_entropy(logits, idx({0, -1, 1})); }, {"cross_entropy", "target -1"});
  expect_error([&] { cross_entropy(logits, idx({0, 1})); }, {"cross_entropy", "[3]", "[2]"});
  expect_error([&] { cross_entropy(logits, zeros({3})); }, {"cross_entropy", "integer", "f32"});
  expect_error([&] { cross_entropy(logits, idx({0, 1, 2}), Reduction::mean, -100, 1.5); },
               {"cross_entropy", "label_smoothing"});
  expect_error([&] { cross_entropy(zeros({2, 3, 4}), idx({0, 1}, {2, 1})); }, {"cross_entropy", "[2, 4]", "[2, 1]"});
  expect_error([&] { nll_loss(logits, idx({0, 9, 1})); }, {"nll_loss", "target 9", "4 classes"});
  expect_error([&] { nll_loss(arange(3), idx({0})); }, {"nll_loss", "floating"});
  expect_error([&] { mse_loss(zeros({2, 3}), zeros({3, 2})); }, {"mse_loss", "[2, 3]", "[3, 2]"});
  expect_error([&] { mse_loss(zeros({2}), zeros({2}, {.dtype = DType::f64})); }, {"mse_loss", "f32", "f64"});
}

// The target check counts the targets a mean divides by and reports the first bad one, for a batch's worth of
// targets (one block on a GPU) and for more (the grid-wide check): the mean is the sum over the counted targets, and
// of two bad targets the error names the first, its value and position, at the next read.
TEST(LossOps, TargetCheckCountsAndReportsTheFirstBadTarget) {
  for (int64_t n : {300, 70000}) {
    SCOPED_TRACE(n);
    const Tensor x = randn({n, 3}, default_generator(), {.device = default_device()});
    std::vector<int64_t> targets(static_cast<size_t>(n));
    int64_t counted = 0;
    for (int64_t i = 0; i < n; ++i) {
      targets[i] = i % 7 == 3 ? -100 : i % 3;
      counted += targets[i] != -100;
    }
    const Tensor t = tensor<int64_t>(targets, {n}).to(default_device());
    const double sum = cross_entropy(x, t, Reduction::sum).to(DType::f64).item<double>();
    EXPECT_NEAR(cross_entropy(x, t).to(DType::f64).item<double>(), sum / static_cast<double>(counted),
                1e-6 * std::abs(sum / static_cast<double>(counted)));
    targets[n - 5] = 7;
    targets[n - 2] = -3;
    const Tensor bad = tensor<int64_t>(targets, {n}).to(default_device());
    expect_error([&] { (void)cross_entropy(x, bad).item<float>(); },
                 {"cross_entropy", "target 7 (at position " + std::to_string(n - 5) + ")", "3 classes"});
  }
}

TEST(LossTorchRef, ValuesAndGradientsMatchPyTorch) {
  std::vector<RefCase> cases;
  for (DType dt : {DType::f32, DType::f64}) {
    const std::string d = dtype_name(dt);
    for (Reduction r : kReductions) {
      const std::string rn = reduction_name(r);
      for (double eps : {0.0, 0.1}) {
        for (int64_t ignore : {int64_t{-100}, int64_t{3}}) {
          const nlohmann::json p = {{"reduction", rn}, {"ignore_index", ignore}, {"label_smoothing", eps}};
          const std::string tag = rn + " eps " + std::to_string(eps) + " ignore " + std::to_string(ignore) + " " + d;
          // The training shape: (128, 10), with a few ignored targets.
          std::vector<int64_t> t(128);
          for (int64_t i = 0; i < 128; ++i) t[i] = i % 17 == 5 ? ignore : (i * 7) % 10;
          cases.push_back({"ce (128,10) " + tag, "cross_entropy", {ref_leaf({128, 10}, dt, 1, false, -6, 6), idx(t)}, p,
                           [=](const Inputs& in) { return cross_entropy(in[0], in[1], r, ignore, eps); }});
          cases.push_back({"ce (N,C,d1,d2) " + tag, "cross_entropy",
                           {ref_leaf({2, 5, 3, 2}, dt, 2, true), idx({0, 4, 3, ignore, 1, 2, 2, 3, 4, 4, 0, 1}, {2, 3, 2})},
                           p, [=](const Inputs& in) { return cross_entropy(in[0], in[1], r, ignore, eps); }});
          if (eps == 0.0)
            cases.push_back({"nll " + tag, "nll_loss", {ref_leaf({6, 4}, dt, 3, true), idx({3, 0, ignore, 2, 1, 3})},
                             p, [=](const Inputs& in) { return nll_loss(in[0], in[1], r, ignore); }});
        }
      }
      cases.push_back({"mse " + rn + " " + d, "mse_loss", {ref_leaf({5, 3}, dt, 4, true), ref_leaf({5, 3}, dt, 5)},
                       {{"reduction", rn}}, [=](const Inputs& in) { return mse_loss(in[0], in[1], r); }});
      cases.push_back({"bce " + rn + " " + d, "binary_cross_entropy_with_logits",
                       {ref_leaf({6, 3}, dt, 11, true, -9, 9), ref_leaf({6, 3}, dt, 12, true, 0, 1)}, {{"reduction", rn}},
                       [=](const Inputs& in) { return binary_cross_entropy_with_logits(in[0], in[1], r); }});
      cases.push_back({"l1 " + rn + " " + d, "l1_loss", {ref_leaf({5, 3}, dt, 13, true), ref_leaf({5, 3}, dt, 14, true)},
                       {{"reduction", rn}}, [=](const Inputs& in) { return l1_loss(in[0], in[1], r); }});
      cases.push_back({"huber " + rn + " " + d, "huber_loss",
                       {ref_leaf({5, 3}, dt, 15, true, -2, 2), ref_leaf({5, 3}, dt, 16, true)},
                       {{"reduction", rn}, {"delta", 0.7}},
                       [=](const Inputs& in) { return huber_loss(in[0], in[1], r, 0.7); }});
    }
    // Logits exactly 0 (a zero-initialised head, dead ReLU features): PyTorch's gradient is sigmoid(0) - y.
    for (Reduction r : kReductions) {
      Tensor zero_logits = zeros({2, 3}, {.dtype = dt}).requires_grad_(true);
      Tensor targets = tensor<double>({0, 1, 0.25, 1, 0, 0.5}, {2, 3}).to(dt);
      cases.push_back({std::string("bce at logit 0 ") + reduction_name(r) + " " + d, "binary_cross_entropy_with_logits",
                       {zero_logits, targets}, {{"reduction", reduction_name(r)}},
                       [=](const Inputs& in) { return binary_cross_entropy_with_logits(in[0], in[1], r); }});
    }
    cases.push_back({"ce unbatched " + d, "cross_entropy", {ref_leaf({7}, dt, 6), idx({5}, {})},
                     {{"reduction", "mean"}, {"ignore_index", -100}, {"label_smoothing", 0.2}},
                     [](const Inputs& in) { return cross_entropy(in[0], in[1], Reduction::mean, -100, 0.2); }});
  }
  testing::expect_matches_torch(cases);
}

}  // namespace
}  // namespace tessera
