// Softmax, log_softmax, the losses, layer_norm and batch_norm on the guarded test device and on cuda:0: each op,
// forward and backward, must give the CPU's values and gradients, bit for bit on the test device (the same
// CpuBackend loops run on both) and within a few ulp on a GPU (tests/support/compared_device.h), and any
// hidden host read of device memory inside an op faults here. Inputs are made on the CPU and copied over; gradients
// are passed explicitly (y.backward(grad)), so no other op family's backward takes part. The CPU side is pinned
// to the CPU, so the suite also runs under TESSERA_TEST_DEVICE=test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "core/nn/nn.h"
#include "tests/support/compared_device.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

const Device kCpu{};

// Leaves (floating, gradients compared) and constants (targets, running statistics: compared after the call,
// since batch_norm updates running statistics in place).
using OpFn = std::function<Tensor(const Inputs& leaves, const Inputs& constants)>;

// The device of the running test: the test device or cuda:0 (the suite's parameter).
Device test_device() { return testing::current_compared_device(); }
class SoftmaxNormOnDevice : public testing::ComparedDeviceTest {};


Inputs leaves_on(const Inputs& values, Device device) {
  Inputs out;
  for (const Tensor& v : values) {
    Tensor leaf = v.to(device).detach().clone();
    leaf.requires_grad_(true);
    out.push_back(leaf);
  }
  return out;
}

Inputs constants_on(const Inputs& values, Device device) {
  Inputs out;
  for (const Tensor& v : values) out.push_back(v.defined() ? v.to(device).detach().clone() : v);
  return out;
}

// Runs fn on the CPU and on the test device, backward with one gradient, and compares everything.
void expect_device_matches_cpu(const std::string& what, const OpFn& fn, const Inputs& leaves,
                               const Inputs& constants = {}, uint64_t grad_seed = 99) {
  SCOPED_TRACE(what);
  const Inputs cpu_leaves = leaves_on(leaves, kCpu), dev_leaves = leaves_on(leaves, test_device());
  const Inputs cpu_constants = constants_on(constants, kCpu), dev_constants = constants_on(constants, test_device());
  const Tensor cpu_out = fn(cpu_leaves, cpu_constants);
  const Tensor dev_out = fn(dev_leaves, dev_constants);
  testing::expect_device_matches(dev_out, cpu_out, what + " output");
  const Tensor grad = uniform_tensor(cpu_out.shape(), cpu_out.dtype(), grad_seed).to(kCpu);
  cpu_out.backward(grad);
  dev_out.backward(grad.to(test_device()));
  for (size_t i = 0; i < leaves.size(); ++i)
    testing::expect_device_matches(dev_leaves[i].grad(), cpu_leaves[i].grad(),
                                   what + " gradient of input " + std::to_string(i));
  for (size_t i = 0; i < constants.size(); ++i)
    testing::expect_device_matches(dev_constants[i], cpu_constants[i],
                                   what + " constant " + std::to_string(i) + " after the call");
}

const DType kFloatTypes[] = {DType::f32, DType::f64, DType::bf16};

Tensor targets(const std::vector<int64_t>& values, const Shape& shape) {
  return tensor<int64_t>(values, shape, TensorOptions{.dtype = DType::i64, .device = kCpu});
}

TEST_P(SoftmaxNormOnDevice, SoftmaxAndLogSoftmax) {
  for (DType dt : kFloatTypes)
    for (bool log : {false, true}) {
      const auto op = [log](const Tensor& x, int64_t dim) { return log ? log_softmax(x, dim) : softmax(x, dim); };
      const std::string name = std::string(log ? "log_softmax " : "softmax ") + dtype_name(dt);
      for (int64_t dim : {0, 1, 2})
        expect_device_matches_cpu(name + " dim " + std::to_string(dim),
                                  [&](const Inputs& in, const Inputs&) { return op(in[0], dim); },
                                  {uniform_tensor({3, 5, 19}, dt, 1, -4, 4)});
      // Non-contiguous: a transposed view, made on each device.
      expect_device_matches_cpu(name + " transposed",
                                [&](const Inputs& in, const Inputs&) { return op(in[0].transpose(0, 1), 1); },
                                {uniform_tensor({7, 4}, dt, 2, -4, 4)});
    }
}

TEST_P(SoftmaxNormOnDevice, CrossEntropyAndNll) {
  const Tensor t2 = targets({0, 3, -100, 2, 1}, {5});
  const Tensor t3 = targets({0, 3, 1, 2, 1, -100}, {2, 3});
  for (DType dt : kFloatTypes)
    for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum}) {
      const std::string name = std::string(dtype_name(dt)) + " reduction " + std::to_string(static_cast<int>(r));
      for (double smoothing : {0.0, 0.1}) {
        expect_device_matches_cpu("cross_entropy (N, C) " + name,
                                  [&](const Inputs& in, const Inputs& c) {
                                    return cross_entropy(in[0], c[0], r, -100, smoothing);
                                  },
                                  {uniform_tensor({5, 4}, dt, 3, -3, 3)}, {t2});
        expect_device_matches_cpu("cross_entropy (N, C, d) transposed " + name,
                                  [&](const Inputs& in, const Inputs& c) {
                                    return cross_entropy(in[0].transpose(1, 2), c[0], r, -100, smoothing);
                                  },
                                  {uniform_tensor({2, 3, 4}, dt, 4, -3, 3)}, {t3});
      }
      expect_device_matches_cpu("nll_loss " + name,
                                [&](const Inputs& in, const Inputs& c) { return nll_loss(in[0], c[0], r); },
                                {uniform_tensor({5, 4}, dt, 5, -3, 0)}, {t2});
      expect_device_matches_cpu("nll_loss (N, C, d) " + name,
                                [&](const Inputs& in, const Inputs& c) { return nll_loss(in[0], c[0], r); },
                                {uniform_tensor({2, 4, 3}, dt, 6, -3, 0)}, {t3});
    }
  // A mean over no counted target: NaN on both, zero gradient.
  expect_device_matches_cpu("cross_entropy all ignored",
                            [&](const Inputs& in, const Inputs& c) { return cross_entropy(in[0], c[0]); },
                            {uniform_tensor({2, 3}, DType::f32, 7)}, {targets({-100, -100}, {2})});
}

TEST_P(SoftmaxNormOnDevice, BadTargetsAreTheSameErrorOnTheDevice) {
  const Tensor logits = zeros({3, 4}, {.dtype = DType::f32, .device = test_device()});
  const Tensor bad = targets({0, 4, 1}, {3}).to(test_device());
  expect_error([&] { cross_entropy(logits, bad).to(kCpu); }, {"cross_entropy", "target 4", "at position 1", "4 classes"});
  expect_error([&] { nll_loss(logits, bad).to(kCpu); }, {"nll_loss", "target 4", "4 classes"});
  expect_error([&] { cross_entropy(logits, targets({0, 1, 2}, {3})); }, {"cross_entropy", "cpu", test_device().str()});
}

TEST_P(SoftmaxNormOnDevice, MseLoss) {
  for (DType dt : kFloatTypes)
    for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum})
      expect_device_matches_cpu(std::string("mse_loss ") + dtype_name(dt) + " " + std::to_string(static_cast<int>(r)),
                                [&](const Inputs& in, const Inputs&) {
                                  return mse_loss(in[0].transpose(0, 1), in[1], r);
                                },
                                {uniform_tensor({4, 3}, dt, 8), uniform_tensor({3, 4}, dt, 9)});
}

TEST_P(SoftmaxNormOnDevice, LayerNorm) {
  for (DType dt : kFloatTypes) {
    const std::string name = std::string("layer_norm ") + dtype_name(dt);
    expect_device_matches_cpu(name + " affine",
                              [](const Inputs& in, const Inputs&) { return layer_norm(in[0], {5}, in[1], in[2]); },
                              {uniform_tensor({3, 4, 5}, dt, 10), uniform_tensor({5}, dt, 11),
                               uniform_tensor({5}, dt, 12)});
    expect_device_matches_cpu(name + " transposed, two dims, no affine",
                              [](const Inputs& in, const Inputs&) {
                                return layer_norm(in[0].transpose(1, 2), {4, 3}, Tensor(), Tensor(), 1e-3);
                              },
                              {uniform_tensor({2, 3, 4}, dt, 13)});
  }
}

TEST_P(SoftmaxNormOnDevice, BatchNorm) {
  for (DType dt : kFloatTypes) {
    const std::string name = std::string("batch_norm ") + dtype_name(dt);
    const Tensor running_mean = uniform_tensor({3}, DType::f32, 14);
    const Tensor running_var = uniform_tensor({3}, DType::f32, 15) + 1.5;
    expect_device_matches_cpu(name + " training with running stats",
                              [](const Inputs& in, const Inputs& c) {
                                return batch_norm(in[0], c[0], c[1], in[1], in[2], true, 0.1, 1e-5);
                              },
                              {uniform_tensor({4, 3, 5}, dt, 16), uniform_tensor({3}, dt, 17),
                               uniform_tensor({3}, dt, 18)},
                              {running_mean, running_var});
    expect_device_matches_cpu(name + " training, transposed, no affine, no running stats",
                              [](const Inputs& in, const Inputs&) {
                                return batch_norm(in[0].transpose(2, 3), {}, {}, {}, {}, true);
                              },
                              {uniform_tensor({2, 3, 4, 5}, dt, 19)});
    expect_device_matches_cpu(name + " eval",
                              [](const Inputs& in, const Inputs& c) {
                                return batch_norm(in[0], c[0], c[1], in[1], in[2], false);
                              },
                              {uniform_tensor({2, 3, 4}, dt, 20), uniform_tensor({3}, dt, 21),
                               uniform_tensor({3}, dt, 22)},
                              {running_mean.to(DType::f64), running_var.to(DType::f64)});
  }
}

// Shapes past the small-shape launch plans of a GPU: softmax rows longer than a warp's limit (1,024: a block per
// row) and long columns; cross-entropy over 2,500 classes; layer_norm rows longer than 1,024, and enough rows that
// its parameter gradients add per-chunk partials; batch_norm over 25,600 elements per channel.
TEST_P(SoftmaxNormOnDevice, LargeShapesTakeEveryLaunchPlan) {
  const DType dt = DType::f32;
  for (bool log : {false, true}) {
    const auto op = [log](const Tensor& x, int64_t dim) { return log ? log_softmax(x, dim) : softmax(x, dim); };
    const std::string name = log ? "log_softmax" : "softmax";
    expect_device_matches_cpu(name + " rows of 3000", [&](const Inputs& in, const Inputs&) { return op(in[0], 1); },
                              {uniform_tensor({3, 3000}, dt, 40, -4, 4)});
    expect_device_matches_cpu(name + " columns of 2000", [&](const Inputs& in, const Inputs&) { return op(in[0], 1); },
                              {uniform_tensor({2, 2000, 3}, dt, 41, -4, 4)});
  }
  std::vector<int64_t> classes(4);
  for (size_t i = 0; i < classes.size(); ++i) classes[i] = static_cast<int64_t>(i) * 611 + 7;
  expect_device_matches_cpu("cross_entropy over 2500 classes",
                            [](const Inputs& in, const Inputs& c) { return cross_entropy(in[0], c[0]); },
                            {uniform_tensor({4, 2500}, dt, 42, -3, 3)}, {targets(classes, {4})});
  expect_device_matches_cpu("layer_norm 300 rows of 40 (chunked parameter gradients)",
                            [](const Inputs& in, const Inputs&) { return layer_norm(in[0], {40}, in[1], in[2]); },
                            {uniform_tensor({300, 40}, dt, 43), uniform_tensor({40}, dt, 44),
                             uniform_tensor({40}, dt, 45)});
  expect_device_matches_cpu("layer_norm rows of 2000 (a block per row)",
                            [](const Inputs& in, const Inputs&) { return layer_norm(in[0], {2000}, in[1], in[2]); },
                            {uniform_tensor({3, 2000}, dt, 46), uniform_tensor({2000}, dt, 47),
                             uniform_tensor({2000}, dt, 48)});
  expect_device_matches_cpu("batch_norm 25600 elements per channel",
                            [](const Inputs& in, const Inputs&) {
                              return batch_norm(in[0], {}, {}, in[1], in[2], true);
                            },
                            {uniform_tensor({64, 3, 20, 20}, dt, 49), uniform_tensor({3}, dt, 50),
                             uniform_tensor({3}, dt, 51)});
}

TEST_P(SoftmaxNormOnDevice, BatchNormModuleCountsBatchesOnTheDevice) {
  for (bool cumulative : {false, true}) {
    nn::BatchNormOptions options{.num_features = 3};
    if (cumulative) options.momentum = std::nullopt;
    nn::BatchNorm1d cpu_bn(options), dev_bn(options);
    cpu_bn.to(kCpu);
    dev_bn.to(test_device());
    for (int step = 0; step < 2; ++step) {
      const Tensor x = uniform_tensor({4, 3}, DType::f32, 30 + step).to(kCpu);
      testing::expect_device_matches(dev_bn.forward(x.to(test_device())), cpu_bn.forward(x), "BatchNorm1d output");
    }
    const auto cpu_buffers = cpu_bn.named_buffers(), dev_buffers = dev_bn.named_buffers();
    ASSERT_EQ(cpu_buffers.size(), dev_buffers.size());
    for (size_t i = 0; i < cpu_buffers.size(); ++i)
      testing::expect_device_matches(dev_buffers[i].second, cpu_buffers[i].second, "buffer " + cpu_buffers[i].first);
    EXPECT_EQ(dev_bn.named_buffers().back().second.item<int64_t>(), 2);
  }
}

INSTANTIATE_TEST_SUITE_P(SoftmaxNormOnDevice, SoftmaxNormOnDevice, testing::kComparedDevices,
                         testing::device_param_name);

}  // namespace
}  // namespace tessera
