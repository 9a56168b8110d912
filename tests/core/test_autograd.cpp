#include <gtest/gtest.h>

#include "core/core.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace tessera {
namespace {

using testing::expect_error;
using testing::expect_gradients_match;
using testing::noncontiguous_leaf;
using testing::random_leaf;
using Inputs = std::vector<Tensor>;

TEST(Autograd, SimpleChainRule) {
  Tensor x = tensor<double>({1, 2, 3}).requires_grad_();
  Tensor y = (x * x * 3.0 + x).sum();  // dy/dx = 6x + 1
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{7, 13, 19}));
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.grad_fn()->name(), "SumBackward");
}

TEST(Autograd, GradientsAccumulateAcrossBackwards) {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  (x * 2.0).sum().backward();
  (x * 3.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, 5}));
}

TEST(Autograd, ArithmeticMatchesFiniteDifferences) {
  expect_gradients_match([](const Inputs& in) { return in[0] + in[1] * 2.0; },
                         {random_leaf({3, 4}, 1), random_leaf({4}, 2)});
  expect_gradients_match([](const Inputs& in) { return sub(in[0], in[1], 0.5); },
                         {random_leaf({2, 1, 3}, 3), noncontiguous_leaf({4, 3}, 4)});
  expect_gradients_match([](const Inputs& in) { return in[0] * in[1]; },
                         {noncontiguous_leaf({3, 4}, 5), random_leaf({3, 1}, 6)});
  expect_gradients_match([](const Inputs& in) { return in[0] / in[1]; },
                         {random_leaf({3, 4}, 7), random_leaf({4}, 8, 0.5, 2.0)});
  expect_gradients_match([](const Inputs& in) { return -in[0] + 1.0 - 2.0 / in[0]; },
                         {random_leaf({5}, 9, 0.5, 2.0)});
}

TEST(Autograd, ViewsMatchFiniteDifferences) {
  expect_gradients_match([](const Inputs& in) { return in[0].t().reshape({-1}) * in[0].reshape({-1}).narrow(0, 0, 12); },
                         {random_leaf({3, 4}, 1)});
  expect_gradients_match([](const Inputs& in) { return in[0].permute({2, 0, 1}).slice(1, 0, 3, 2); },
                         {random_leaf({3, 4, 2}, 2)});
  expect_gradients_match([](const Inputs& in) { return in[0].select(1, 1).unsqueeze(0).expand({3, 3}); },
                         {noncontiguous_leaf({3, 2}, 3)});
  expect_gradients_match([](const Inputs& in) { return in[0].flatten().squeeze(); }, {random_leaf({2, 1, 3}, 4)});
  expect_gradients_match([](const Inputs& in) { return in[0].to(DType::f32).to(DType::f64) * 1.0; },
                         {random_leaf({3}, 5)}, {.eps = 1e-3, .atol = 1e-4, .rtol = 1e-3});
}

TEST(Autograd, ReductionsAndMatmulMatchFiniteDifferences) {
  expect_gradients_match([](const Inputs& in) { return in[0].sum({0, 2}, true); }, {random_leaf({2, 3, 4}, 1)});
  expect_gradients_match([](const Inputs& in) { return in[0].mean({1}); }, {noncontiguous_leaf({3, 5}, 2)});
  expect_gradients_match([](const Inputs& in) { return in[0].sum(); }, {random_leaf({4, 2}, 3)});
  expect_gradients_match([](const Inputs& in) { return matmul(in[0], in[1]); },
                         {random_leaf({3, 4}, 4), noncontiguous_leaf({4, 2}, 5)});
  expect_gradients_match([](const Inputs& in) { return matmul(in[0], in[1]); },
                         {random_leaf({2, 3, 4}, 6), random_leaf({4}, 7)});
  expect_gradients_match([](const Inputs& in) { return matmul(in[0], in[1]); },
                         {random_leaf({2, 1, 3, 4}, 8), random_leaf({3, 4, 2}, 9)});
  expect_gradients_match([](const Inputs& in) { return linear(in[0], in[1], in[2]); },
                         {random_leaf({5, 3}, 10), random_leaf({4, 3}, 11), random_leaf({4}, 12)});
  expect_gradients_match([](const Inputs& in) { return linear(in[0], in[1]); },
                         {random_leaf({2, 5, 3}, 13), noncontiguous_leaf({4, 3}, 14)});
}

// matmul's rank cases that no other test reaches (vector . vector, a vector or a matrix against a batch), bmm on
// non-contiguous (transposed) operands, and linear on a single sample (1-D input) and on a non-contiguous batch.
TEST(Autograd, MatmulRanksBmmAndLinearVariantsMatchFiniteDifferences) {
  expect_gradients_match([](const Inputs& in) { return matmul(in[0], in[1]); },
                         {random_leaf({4}, 1), noncontiguous_leaf({4}, 2)});
  expect_gradients_match([](const Inputs& in) { return matmul(in[0], in[1]); },
                         {random_leaf({3}, 3), random_leaf({2, 3, 4}, 4)});
  expect_gradients_match([](const Inputs& in) { return matmul(in[0], in[1]); },
                         {noncontiguous_leaf({5, 3}, 5), random_leaf({2, 3, 4}, 6)});
  expect_gradients_match([](const Inputs& in) { return bmm(in[0], in[1]); },
                         {noncontiguous_leaf({2, 3, 4}, 7), noncontiguous_leaf({2, 4, 5}, 8)});
  expect_gradients_match([](const Inputs& in) { return bmm(in[0].transpose(0, 1), in[1]); },
                         {random_leaf({3, 2, 4}, 9), random_leaf({2, 4, 2}, 10)});  // batch dim not outermost
  expect_gradients_match([](const Inputs& in) { return linear(in[0], in[1], in[2]); },
                         {random_leaf({3}, 11), random_leaf({4, 3}, 12), random_leaf({4}, 13)});
  expect_gradients_match([](const Inputs& in) { return linear(in[0].permute({1, 0, 2}), in[1], in[2]); },
                         {random_leaf({5, 2, 3}, 14), noncontiguous_leaf({4, 3}, 15), random_leaf({4}, 16)});
}

TEST(Autograd, LeafUsedTwiceFiresHookOnceWithFinalGradient) {
  Tensor w = tensor<double>({1, 2, 3}).requires_grad_();
  int calls = 0;
  std::vector<double> seen;
  w.register_post_accumulate_grad_hook([&](Tensor& leaf) {
    ++calls;
    seen = leaf.grad().to_vector<double>();
  });
  Tensor y = (w * w).sum() + (w * 2.0).sum();  // 2w + 2
  y.backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, (std::vector<double>{4, 6, 8}));
}

TEST(Autograd, HooksFireInReverseOrderOfUse) {
  // A chain x -> l1 -> l2: l2's weight gets its gradient first, as the data-parallel reducer expects.
  Tensor w1 = tensor<double>({1, 2, 2, 1}, {2, 2}).requires_grad_();
  Tensor w2 = tensor<double>({1, 0, 0, 1}, {2, 2}).requires_grad_();
  std::vector<std::string> order;
  w1.register_post_accumulate_grad_hook([&](Tensor&) { order.push_back("w1"); });
  w2.register_post_accumulate_grad_hook([&](Tensor&) { order.push_back("w2"); });
  Tensor x = ones({3, 2}, {.dtype = DType::f64});
  linear(linear(x, w1), w2).sum().backward();
  EXPECT_EQ(order, (std::vector<std::string>{"w2", "w1"}));
}

TEST(Autograd, RetainGraphAndSecondBackwardError) {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor y = (x * x).sum();
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 8}));
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("backward through the graph a second time"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("MulBackward"), std::string::npos) << e.what();
  }
}

TEST(Autograd, NonScalarBackwardNeedsGradient) {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor y = x * 2.0;
  EXPECT_THROW(y.backward(), Error);
  y.backward(tensor<double>({1, 10}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 20}));
}

// PyTorch: x.backward(float64 gradient) on a float32 leaf leaves x.grad float32.
// PyTorch refuses x.grad = g of another dtype or device ("assigned grad has data of a different type"); so does
// set_grad, which optimizers and GradScaler trust to match the parameter.
TEST(Autograd, SetGradRefusesAnotherShapeDtypeOrDevice) {
  Tensor x = zeros({2}, {.device = default_device()}).requires_grad_();
  expect_error([&] { x.set_grad(zeros({3}, {.device = default_device()})); }, "gradient of shape [3]");
  expect_error([&] { x.set_grad(zeros({2}, {.dtype = DType::f64, .device = default_device()})); },
               "set_grad: gradient of dtype f64 for a tensor of dtype f32");
  if (!default_device().is_cpu())
    expect_error([&] { x.set_grad(zeros({2}, {.device = Device()})); }, "set_grad: gradient on cpu");
  x.set_grad(ones({2}, {.device = default_device()}));
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{1, 1}));
}

TEST(Autograd, SeedGradientTakesTheRootsDtype) {
  Tensor x = tensor<float>({1, 2}).requires_grad_();
  x.backward(tensor<double>({1, 3}));
  EXPECT_EQ(x.grad().dtype(), DType::f32);
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{1, 3}));
  Tensor w = tensor<float>({1, 2}).requires_grad_();
  EXPECT_EQ(autograd::grad({w}, {w}, {tensor<double>({1, 3})})[0].dtype(), DType::f32);
}

TEST(Autograd, InPlaceChangeOfSavedTensorIsAnError) {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor w = tensor<double>({3, 4});
  Tensor y = (x * w).sum();
  w.fill_(0.0);  // MulBackward saved w
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified by an in-place operation"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("MulBackward"), std::string::npos) << e.what();
  }
}

TEST(Autograd, NoGradDetachAndRequiresGrad) {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  {
    NoGradGuard guard;
    EXPECT_FALSE((x * 2.0).requires_grad());
  }
  EXPECT_TRUE((x * 2.0).requires_grad());
  EXPECT_FALSE(x.detach().requires_grad());
  EXPECT_THROW((x * 2.0).requires_grad_(false), Error);  // not a leaf
  EXPECT_THROW(arange(3).requires_grad_(), Error);          // integer
  EXPECT_THROW(x.fill_(1.0), Error);                        // in-place on a leaf that requires grad
  EXPECT_THROW(tensor<double>({1.0}).sum().backward(), Error);  // nothing requires grad
}

// PyTorch: w.uniform_() on a leaf that requires grad is an error with grad mode on ("a leaf Variable that requires grad
// is being used in an in-place operation"); on a non-leaf it is recorded, and y's gradient to x is then zero. Tessera's
// uniform_ and normal_ are not recorded, so, as every other in-place op, they are refused there (nn::init's functions
// run under NoGradGuard). Unchecked, the contiguous path wrote w, and y kept MulBackward: x.grad 2 where y no longer
// depends on x.
TEST(Autograd, RandomFillsInPlaceFollowTheInPlaceRules) {
  Tensor w = zeros({2, 3}, {.dtype = DType::f64}).requires_grad_();
  expect_error([&] { uniform_(w, -1.0, 1.0); }, {"uniform_", "requires grad"});
  expect_error([&] { normal_(w, 0.0, 1.0); }, {"normal_", "requires grad"});
  Tensor transposed = w.t();  // the non-contiguous path, which named copy_
  expect_error([&] { uniform_(transposed, -1.0, 1.0); }, {"uniform_", "requires grad"});
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor y = x * 2.0;
  expect_error([&] { normal_(y, 0.0, 1.0); }, {"normal_", "requires grad"});
  EXPECT_EQ(w.version(), 0u);
  EXPECT_EQ(y.version(), 0u);
  {
    NoGradGuard no_grad;
    uniform_(w, -1.0, 1.0);  // as nn::init::uniform_
  }
  EXPECT_EQ(w.version(), 1u);
}

// PyTorch records buf.copy_(x) / buf.add_(x) / buf.mul_(x) and differentiates through them; Tessera does not record
// in-place ops, so a source that requires grad must be refused, not have its gradient silently dropped.
TEST(Autograd, InPlaceFromATensorThatRequiresGradIsAnError) {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor buf = zeros({4}, {.dtype = DType::f64});
  EXPECT_THROW(buf.narrow(0, 1, 2).copy_(x), Error);
  EXPECT_THROW(buf.narrow(0, 0, 2).add_(x * 2.0), Error);
  EXPECT_THROW(buf.narrow(0, 2, 2).mul_(x), Error);
  EXPECT_EQ(buf.version(), 0u);  // nothing written
  buf.narrow(0, 1, 2).copy_(x.detach());  // allowed: no gradient expected
  {
    NoGradGuard no_grad;
    buf.narrow(0, 0, 2).add_(x);
  }
  EXPECT_EQ(buf.to_vector<double>(), (std::vector<double>{1, 3, 2, 0}));
}

// PyTorch: a view made under torch.no_grad() of a tensor that requires grad, then modified in place with grad mode
// on, is an error ("A view was created in no_grad mode and is being modified inplace with grad mode enabled"), and so
// is a write through a view whose base was set to require grad after the view was made ("a view of a leaf Variable
// that requires grad is being used in an in-place operation"). Unchecked, y's values change behind the graph:
// after v.mul_(2), (y * y).sum() is 4x^2 but backward gives x.grad 4, not 8.
TEST(Autograd, InPlaceThroughANoGradViewOfATensorThatRequiresGradIsAnError) {
  Tensor x = tensor<double>({1, 1, 1}).requires_grad_();
  Tensor y = x * 1.0;
  Tensor plain = zeros({3}, {.dtype = DType::f64});
  Tensor v, leaf_view, plain_view;
  {
    NoGradGuard no_grad;
    v = y.narrow(0, 0, 3);
    leaf_view = x.narrow(0, 0, 2);
    plain_view = plain.narrow(0, 0, 2);
  }
  EXPECT_FALSE(v.requires_grad());
  expect_error([&] { v.mul_(2.0); }, {"mul_", "no grad mode"});
  expect_error([&] { leaf_view.fill_(0.0); }, {"fill_", "no grad mode"});
  // A view of the no-grad view, made with grad mode on, is one too (PyTorch's propagate_creation_meta).
  expect_error([&] { v.unsqueeze(0).copy_(zeros({1, 3}, {.dtype = DType::f64})); }, {"copy_", "no grad mode"});
  EXPECT_EQ(y.version(), 0u);
  EXPECT_EQ(x.version(), 0u);
  (y * y).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2, 2}));

  // Allowed, as in PyTorch: the write under NoGradGuard, through a detach()ed view, or through a no-grad view of a
  // tensor that does not require grad.
  {
    NoGradGuard no_grad;
    leaf_view.mul_(1.0);
  }
  v.detach().mul_(1.0);
  plain_view.fill_(1.0);
  plain.requires_grad_();  // ... until its base requires grad
  expect_error([&] { plain_view.fill_(2.0); }, {"fill_", "no grad mode"});
  plain.requires_grad_(false);  // ... and again once it no longer does (frozen), as PyTorch
  plain_view.fill_(3.0);

  Tensor w = zeros({3}, {.dtype = DType::f64});
  Tensor column = w.narrow(0, 0, 2);  // made with grad mode on, before w requires grad
  column.fill_(1.0);
  w.requires_grad_();
  expect_error([&] { column.fill_(2.0); }, {"fill_", "requires grad"});
  EXPECT_EQ(w.to_vector<double>(), (std::vector<double>{1, 1, 0}));
}

TEST(Autograd, RetainGradOnIntermediate) {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor h = x * 3.0;
  h.retain_grad();
  (h * h).sum().backward();
  EXPECT_EQ(h.grad().to_vector<double>(), (std::vector<double>{6, 12}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{18, 36}));
}

// PyTorch: a retained non-leaf gradient accumulates over backward calls like a leaf's (h.grad == [12, 24] here).
TEST(Autograd, RetainedGradAccumulatesAcrossBackwards) {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor h = x * 3.0;
  h.retain_grad();
  Tensor z = (h * h).sum();
  z.backward({}, /*retain_graph=*/true);
  const Tensor first = h.grad();
  z.backward({}, /*retain_graph=*/true);  // h's own graph is walked again below
  EXPECT_EQ(h.grad().to_vector<double>(), (std::vector<double>{12, 24}));
  EXPECT_EQ(first.to_vector<double>(), (std::vector<double>{6, 12}));  // out of place, as PyTorch's
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{36, 72}));
  h.set_grad(Tensor());  // zeroing it starts again
  (h * 2.0).sum().backward();
  EXPECT_EQ(h.grad().to_vector<double>(), (std::vector<double>{2, 2}));
}

TEST(Autograd, FunctionalGradLeavesDotGradUntouched) {
  Tensor x = tensor<double>({1, 2, 3}).requires_grad_();
  Tensor y = (x * x).sum();
  std::vector<Tensor> g = autograd::grad({y}, {x});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{2, 4, 6}));
  EXPECT_FALSE(x.grad().defined());
}

// As torch.autograd.grad: an input the outputs do not depend on is an error, or, with allow_unused, gets an
// undefined gradient (None) while the others get theirs.
TEST(Autograd, FunctionalGradRefusesUnusedInputsUnlessAllowed) {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor unused = tensor<double>({5, 6, 7}).requires_grad_();
  Tensor y = (x * x).sum();
  expect_error([&] { autograd::grad({y}, {x, unused}, {}, /*retain_graph=*/true); },
               "input 1 (shape [3]) was not used");
  const std::vector<Tensor> g = autograd::grad({y}, {x, unused}, {}, false, /*allow_unused=*/true);
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{2, 4}));
  EXPECT_FALSE(g[1].defined());
}

// As torch.autograd.grad: only the part of the graph between the outputs and the inputs runs, so the graph below a
// non-leaf input is neither freed nor version-checked, and a later backward through it works.
TEST(Autograd, FunctionalGradRunsOnlyTheGraphAboveItsInputs) {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor w = tensor<double>({3, 4});
  Tensor h = x * w;
  Tensor y = (h * h).sum();
  {
    NoGradGuard no_grad;
    w.add_(tensor<double>({1, 1}));  // saved by h's MulBackward, which grad(y, h) does not need
  }
  EXPECT_EQ(autograd::grad({y}, {h})[0].to_vector<double>(), (std::vector<double>{6, 16}));

  Tensor a = tensor<double>({1, 2}).requires_grad_();
  Tensor b = a * a;
  Tensor z = (b * b).sum();
  EXPECT_EQ(autograd::grad({z}, {b})[0].to_vector<double>(), (std::vector<double>{2, 8}));
  b.sum().backward();  // b's MulBackward was not run, so not freed
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{2, 4}));
}

// PyTorch: a view op that changes nothing (squeeze() without size-1 dims, squeeze(d) of a dim longer than 1, t() of a
// 0-D or 1-D tensor) still returns a new view with its own grad_fn (SqueezeBackward0, TBackward0); t() of a 3-D
// tensor is an error. Tessera returned x itself, so y = x.squeeze() shared x's autograd state: y.requires_grad_(false)
// turned x's gradient off.
TEST(Autograd, ViewsThatChangeNothingAreStillNewViews) {
  Tensor x = tensor<double>({1, 2, 3}).requires_grad_();
  for (const Tensor& y : {x.squeeze(), x.squeeze(0), x.t(), x.reshape({3}).transpose(0, 0)}) {
    EXPECT_FALSE(y.is_same(x));
    EXPECT_FALSE(y.is_leaf());
    EXPECT_EQ(y.shape(), x.shape());
    expect_error([&] { Tensor(y).requires_grad_(false); }, "leaf");
  }
  EXPECT_TRUE(x.requires_grad());
  Tensor s = tensor<double>({2.0}).reshape({}).detach().requires_grad_();
  EXPECT_FALSE(s.t().is_same(s));
  EXPECT_FALSE(s.squeeze().is_same(s));
  (x.squeeze() * 2.0 + x.t() + s.t() * x).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, 5, 5}));
  EXPECT_EQ(s.grad().to_vector<double>(), (std::vector<double>{6}));
  expect_error([&] { zeros({2, 2, 2}).t(); }, "t() expects a tensor with <= 2 dimensions");
}

}  // namespace
}  // namespace tessera
