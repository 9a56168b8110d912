// amp::AutocastGuard (core/amp/autocast.h): which ops run in which dtype, PyTorch's autocast policy. GEMMs and
// convolutions run in bf16/f16 (equal to casting their inputs by hand), softmax, layer_norm and losses in f32,
// batch_norm and other ops in their inputs' dtype, f64 never cast; gradients reach f32 master weights in f32.
#include <gtest/gtest.h>

#include <bit>
#include <limits>

#include "core/amp/autocast.h"
#include "core/model/model.h"
#include "core/nn/nn.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

Tensor data(const Shape& shape, uint64_t seed, DType dtype = DType::f32) {
  Generator gen(seed);
  return randn(shape, gen, {.device = default_device()}).to(dtype);
}

void expect_equal(const Tensor& actual, const Tensor& expected, const std::string& what) {
  EXPECT_EQ(actual.dtype(), expected.dtype()) << what;
  EXPECT_EQ(actual.to_vector<double>(), expected.to_vector<double>()) << what;
}

TEST(Autocast, GemmsAndConvolutionsRunInTheLowerDtype) {
  for (DType low : {DType::bf16, DType::f16}) {
    const std::string name = dtype_name(low);
    const Tensor x = data({6, 5}, 1), w = data({4, 5}, 2), b = data({4}, 3), a3 = data({2, 6, 5}, 4);
    const Tensor img = data({2, 3, 6, 6}, 5), k = data({4, 3, 3, 3}, 6);
    auto l = [&](const Tensor& t) { return t.to(low); };
    amp::AutocastGuard autocast(low);
    expect_equal(linear(x, w, b), linear(l(x), l(w), l(b)), "linear " + name);
    expect_equal(linear_relu(x, w, b), linear_relu(l(x), l(w), l(b)), "linear_relu " + name);
    expect_equal(mm(x, w.t()), mm(l(x), l(w).t()), "mm " + name);
    expect_equal(matmul(a3, w.t()), matmul(l(a3), l(w).t()), "matmul " + name);
    expect_equal(bmm(a3, a3.transpose(1, 2)), bmm(l(a3), l(a3).transpose(1, 2)), "bmm " + name);
    expect_equal(conv2d(img, k, b, {.padding = {1, 1}}), conv2d(l(img), l(k), l(b), {.padding = {1, 1}}),
                 "conv2d " + name);
  }
}

// PyTorch's autocast casts every floating input but f64 to its dtype, not only f32 ones: f16 tensors into a GEMM or
// convolution under bf16 autocast run in bf16 (and the other way round), and bf16 activations entering an inner f16
// region run in f16 instead of failing on a dtype mismatch with the f16 weight.
TEST(Autocast, GemmsCastTheOtherHalfTypeToo) {
  const Tensor a = data({6, 5}, 60), w = data({4, 5}, 61), img = data({2, 3, 6, 6}, 62), k = data({4, 3, 3, 3}, 63);
  for (DType low : {DType::bf16, DType::f16}) {
    const std::string name = dtype_name(low);
    const DType other = low == DType::bf16 ? DType::f16 : DType::bf16;
    const Tensor ao = a.to(other), wo = w.to(other), io = img.to(other);
    amp::AutocastGuard autocast(low);
    expect_equal(mm(ao, wo.t()), mm(ao.to(low), wo.to(low).t()), "mm " + name);
    expect_equal(linear(ao, w), linear(ao.to(low), w.to(low)), "linear " + name);
    expect_equal(conv2d(io, k), conv2d(io.to(low), k.to(low)), "conv2d " + name);
  }
  amp::AutocastGuard outer(DType::bf16);
  const Tensor h = linear(a, w);
  ASSERT_EQ(h.dtype(), DType::bf16);
  amp::AutocastGuard inner(DType::f16);
  EXPECT_EQ(linear(h, data({2, 4}, 64)).dtype(), DType::f16);
}

TEST(Autocast, SoftmaxLayerNormAndLossesRunInF32) {
  const Tensor x = data({6, 4}, 7, DType::bf16), other = data({6, 4}, 8);
  const Tensor target = tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1}).to(default_device());
  const Tensor ln_w = data({4}, 9), ln_b = data({4}, 10);
  const Tensor x32 = x.to(DType::f32);
  amp::AutocastGuard autocast(DType::bf16);
  expect_equal(softmax(x, 1), softmax(x32, 1), "softmax");
  expect_equal(log_softmax(x, 1), log_softmax(x32, 1), "log_softmax");
  expect_equal(cross_entropy(x, target), cross_entropy(x32, target), "cross_entropy");
  expect_equal(nll_loss(log_softmax(x, 1), target), nll_loss(log_softmax(x32, 1), target), "nll_loss");
  expect_equal(mse_loss(x, other), mse_loss(x32, other), "mse_loss");
  expect_equal(layer_norm(x, {4}, ln_w, ln_b), layer_norm(x32, {4}, ln_w, ln_b), "layer_norm");
}

// batch_norm is on no autocast list: as in PyTorch, a bf16/f16 activation stays in its dtype (computed in f32 with
// f32 weights, rounded once), so a conv -> batch_norm -> relu -> conv block runs its activations in the lower dtype;
// its gradients reach the input in its dtype and the f32 weight and bias in f32.
TEST(Autocast, BatchNormKeepsItsInputsDtype) {
  for (DType low : {DType::bf16, DType::f16}) {
    const std::string name = dtype_name(low);
    const Tensor img = data({2, 3, 4, 4}, 11, low).requires_grad_();
    const Tensor w = data({3}, 12).requires_grad_(), b = data({3}, 13).requires_grad_();
    const Tensor mean = zeros({3}, {.device = default_device()}), var = ones({3}, {.device = default_device()});
    for (const bool training : {false, true}) {
      const std::string what = name + (training ? " training" : " eval");
      Tensor out;
      {
        amp::AutocastGuard autocast(low);
        out = batch_norm(img, mean.clone(), var.clone(), w, b, training, 0.1, 1e-5);
      }
      const Tensor ref = batch_norm(img.to(DType::f32), mean.clone(), var.clone(), w, b, training, 0.1, 1e-5);
      expect_equal(out, ref.to(low), "batch_norm " + what);
      const Tensor seed = ones_like(out.detach());
      const auto g = autograd::grad({out}, {img, w, b}, {seed});
      const auto g_ref = autograd::grad({ref.to(low)}, {img, w, b}, {seed});
      for (size_t i = 0; i < g.size(); ++i) expect_equal(g[i], g_ref[i], "gradient " + std::to_string(i) + " " + what);
      EXPECT_EQ(g[0].dtype(), low) << what;
      EXPECT_EQ(g[1].dtype(), DType::f32) << what;
    }
  }
}

// The bit patterns of a floating tensor's elements (as f32: bf16/f16 widen exactly), so -0 and NaN compare too.
std::vector<uint32_t> bits(const Tensor& t) {
  std::vector<uint32_t> out;
  for (float v : t.to_vector<float>()) out.push_back(std::bit_cast<uint32_t>(v));
  return out;
}

// bf16/f16 logits go to the backend's cross-entropy as they are (read into f32, the gradient rounded once): bit for
// bit converting them to f32 first and the gradient back after, in and out of autocast, for every reduction, label
// smoothing, an ignored target, a NaN and an inf logit, classes on dimension 1 of an (N, C, d) input (the strided
// rows), and 2,500 classes (a GPU's block-per-row kernel).
TEST(Autocast, HalfLogitsCrossEntropyIsTheF32RouteBitwise) {
  const Device device = default_device();
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{6, 5}, {0, 4, 2, -100, 1, 3}},
      {{3, 5, 4}, {0, 4, 2, -100, 1, 3, 3, 0, 2, 4, 1, 1}},
      {{4, 2500}, {7, 2499, -100, 1234}}};
  for (DType low : {DType::bf16, DType::f16})
    for (const auto& [shape, targets] : cases)
      for (const Reduction reduction : {Reduction::mean, Reduction::sum, Reduction::none})
        for (const double smoothing : {0.0, 0.1})
          for (const bool autocast_on : {true, false}) {
            const std::string what = std::string(dtype_name(low)) + " " + shape_str(shape) + " reduction " +
                                     std::to_string(static_cast<int>(reduction)) + " smoothing " +
                                     std::to_string(smoothing) + (autocast_on ? " autocast" : " plain");
            std::vector<float> values = (data(shape, 40) * 3.0).to_vector<float>();
            if (shape.size() == 2 && shape[1] == 5) {  // rows 1 and 2: a NaN and an inf
              values[7] = std::numeric_limits<float>::quiet_NaN();
              values[10] = std::numeric_limits<float>::infinity();
            }
            const Tensor x = tensor(values).view(shape).to(device).to(low).requires_grad_();
            Shape target_shape = shape;
            target_shape.erase(target_shape.begin() + 1);
            const Tensor t = tensor(targets).view(target_shape).to(device);
            Tensor loss;
            {
              amp::AutocastGuard autocast(DType::bf16, autocast_on);
              loss = cross_entropy(x, t, reduction, -100, smoothing);
            }
            Tensor reference = cross_entropy(x.to(DType::f32), t, reduction, -100, smoothing);
            if (!autocast_on) reference = reference.to(low);
            EXPECT_EQ(loss.dtype(), reference.dtype()) << what;
            EXPECT_EQ(bits(loss), bits(reference)) << "loss " << what;
            const Tensor seed = ones_like(loss.detach());
            const Tensor g = autograd::grad({loss}, {x}, {seed})[0];
            const Tensor g_ref = autograd::grad({reference}, {x}, {seed})[0];
            EXPECT_EQ(g.dtype(), low) << what;
            EXPECT_EQ(bits(g), bits(g_ref)) << "gradient " << what;
          }
}

// exp, log, rsqrt, pow, s / x and sum are on PyTorch's CUDA autocast f32 list: a bf16/f16 input computes and returns
// f32 (a sum of 10,000 bf16 ones is 10000, not bf16's 9984); mean, on no list, keeps the input's dtype. Gradients
// reach the half input in its own dtype.
TEST(Autocast, F32ListOpsReturnF32AndMeanKeepsItsDtype) {
  for (DType low : {DType::bf16, DType::f16}) {
    const std::string name = dtype_name(low);
    const Tensor x = add(abs(data({3, 4}, 16)), 0.5).to(low).requires_grad_();
    const Tensor x32 = x.detach().to(DType::f32);
    amp::AutocastGuard autocast(low);
    expect_equal(exp(x), exp(x32), "exp " + name);
    expect_equal(log(x), log(x32), "log " + name);
    expect_equal(rsqrt(x), rsqrt(x32), "rsqrt " + name);
    expect_equal(pow(x, 3.0), pow(x32, 3.0), "pow scalar " + name);
    expect_equal(pow(x, x), pow(x32, x32), "pow tensor " + name);
    expect_equal(rdiv(x, 2.0), rdiv(x32, 2.0), "rdiv " + name);
    expect_equal(sum(x, {1}), sum(x32, {1}), "sum " + name);
    EXPECT_EQ(sum(ones({10000}, {.dtype = low, .device = default_device()})).item<double>(), 10000.0) << name;
    EXPECT_EQ(mean(x).dtype(), low) << name;
    expect_equal(mean(x), mean(x32).to(low), "mean " + name);
    const Tensor g = autograd::grad({sum(exp(x))}, {x})[0];
    EXPECT_EQ(g.dtype(), low) << name;
    expect_equal(g, exp(x32).to(low), "exp gradient " + name);
  }
}

TEST(Autocast, OtherOpsKeepTheirDtypeAndF64IsNeverCast) {
  const Tensor h = data({3, 4}, 12, DType::bf16), f = data({3, 4}, 13), d = data({3, 4}, 14, DType::f64);
  amp::AutocastGuard autocast(DType::bf16);
  EXPECT_EQ(relu(h).dtype(), DType::bf16);
  EXPECT_EQ((f + f).dtype(), DType::f32);
  EXPECT_EQ(max_pool2d(data({1, 1, 4, 4}, 15, DType::bf16), {.kernel_size = {2, 2}}).dtype(), DType::bf16);
  EXPECT_EQ(mm(d, d.t()).dtype(), DType::f64);
  EXPECT_EQ(softmax(d, 1).dtype(), DType::f64);
}

TEST(Autocast, GradientsReachF32MasterWeightsInF32) {
  manual_seed(2);
  nn::Linear layer(5, 3);
  layer.to(default_device());
  const Tensor x = data({4, 5}, 16);
  const Tensor target = tensor(std::vector<int64_t>{0, 2, 1, 2}).to(default_device());
  Tensor loss;
  {
    amp::AutocastGuard autocast(DType::bf16);
    loss = cross_entropy(layer(x), target);
  }
  EXPECT_EQ(loss.dtype(), DType::f32);
  loss.backward();
  EXPECT_EQ(layer.weight().grad().dtype(), DType::f32);
  // By hand: the same casts, outside autocast.
  const Tensor w = layer.weight().detach().requires_grad_(), b = layer.bias().detach().requires_grad_();
  const Tensor logits = linear(x.to(DType::bf16), w.to(DType::bf16), b.to(DType::bf16));
  const Tensor reference = cross_entropy(logits.to(DType::f32), target);
  const std::vector<Tensor> grads = autograd::grad({reference}, {w, b});
  expect_equal(loss, reference, "loss");
  expect_equal(layer.weight().grad(), grads[0], "weight gradient");
  expect_equal(layer.bias().grad(), grads[1], "bias gradient");
}

// A backward run inside the autocast region (PyTorch's GEMMs then run in the autocast dtype too) still gives an f32
// leaf an f32 gradient: the engine converts each gradient to its input's dtype, as PyTorch's validate_outputs does,
// so GradScaler can unscale it (bf16 here: an f16 backward GEMM of the scaled loss would overflow, in PyTorch too).
TEST(Autocast, BackwardInsideTheRegionGivesF32LeavesF32Gradients) {
  const Tensor x = data({4, 5}, 50);
  Tensor w = data({5, 3}, 51);
  w.requires_grad_();
  optim::SGD sgd({w}, {.lr = 0.1});
  amp::GradScaler scaler;
  const Tensor loss = sum(mm(x, w));  // f32, made outside autocast
  {
    amp::AutocastGuard autocast(DType::bf16);
    scaler.scale(loss).backward();
  }
  ASSERT_EQ(w.grad().dtype(), DType::f32);
  scaler.step(sgd);  // unscale_ refused the f16 gradient before
  EXPECT_FALSE(scaler.found_inf());
  scaler.update();
}

// Model::compile's precision: bf16 and f16 (with loss scaling) train a small classifier as f32 does; parameters
// stay f32, and the loss and metrics come out of f32 losses.
TEST(Autocast, ModelFitsInBf16AndF16) {
  Generator gen(30);
  const Tensor x = randn({96, 6}, gen, {.device = default_device()});
  const Tensor y = gt(x.select(1, 0) + x.select(1, 1), 0.0).to(DType::i64);
  for (const std::string precision : {"f32", "bf16", "f16"}) {
    manual_seed(31);
    model::Model m(json::parse(R"([{"type": "linear", "out_features": 16}, {"type": "relu"},
                                   {"type": "linear", "out_features": 2}])"));
    m.compile({.optimizer = model::adam({.lr = 0.02}), .precision = precision});
    model::TensorBatchSource train(x, y, {.batch_size = 16});
    const model::History history = m.fit(train, {.epochs = 8});
    EXPECT_LT(history.epochs.back().at("loss"), 0.5 * history.epochs.front().at("loss")) << precision;
    EXPECT_GT(m.evaluate(train).at("accuracy"), 0.9) << precision;
    for (const Tensor& p : m.module().parameters()) EXPECT_EQ(p.dtype(), DType::f32) << precision;
    EXPECT_EQ(m.grad_scaler() != nullptr, precision == "f16");
  }
  model::Model bad(json::parse(R"([{"type": "linear", "out_features": 2}])"));
  expect_error([&] { bad.compile({.optimizer = model::sgd({.lr = 0.1}), .precision = "fp8"}); },
               "unknown precision 'fp8' (expected f32, bf16 or f16)");
}

// Model's element-wise losses under autocast compare the bf16/f16 output with the f32 target, as a PyTorch loop's
// mse_loss(model(x), y) does under autocast (the loss runs in f32): the target is not rounded to the output's dtype
// first (bf16 would move 1.001 to 1; f16 would make 70000 inf, and a loss-scaled run skip every step).
TEST(Autocast, ModelLossesKeepTheTargetInF32) {
  const Tensor target = tensor(std::vector<float>{1.001f, 2.003f, 3.01f, 70000.0f}).view({4, 1}).to(default_device());
  for (DType low : {DType::bf16, DType::f16})
    for (const std::string loss : {"mse", "l1", "huber"}) {
      const Tensor out = tensor(std::vector<float>{1, 2, 3, 60000}).view({4, 1}).to(default_device()).to(low);
      const model::LossAndMetrics loss_and_metrics({.loss = loss});
      amp::AutocastGuard autocast(low);
      Tensor sums;
      const Tensor actual = loss_and_metrics.compute(out, target, Tensor(), /*evaluation=*/false, sums);
      const Tensor expected = loss == "mse" ? mse_loss(out, target)
                              : loss == "l1" ? l1_loss(out, target)
                                             : huber_loss(out, target);
      expect_equal(actual, expected, loss + " " + dtype_name(low));
    }
}

TEST(Autocast, GuardsNestAndRestore) {
  EXPECT_FALSE(amp::autocast_enabled());
  {
    amp::AutocastGuard outer(DType::f16);
    EXPECT_TRUE(amp::autocast_enabled());
    {
      amp::AutocastGuard off(DType::bf16, /*enabled=*/false);
      EXPECT_FALSE(amp::autocast_enabled());
      EXPECT_EQ(mm(data({2, 2}, 17), data({2, 2}, 18)).dtype(), DType::f32);
    }
    EXPECT_EQ(amp::autocast_dtype(), DType::f16);
  }
  EXPECT_FALSE(amp::autocast_enabled());
  expect_error([] { amp::AutocastGuard bad(DType::f32); }, "autocast: the dtype must be bf16 or f16, got f32");
}

}  // namespace
}  // namespace tessera
