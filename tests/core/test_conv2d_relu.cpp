// conv2d_relu (core/ops/nn_functional.h): the ReLU in the convolution's own pass (a GPU's bias kernel), and in
// autograd relu's node, then the convolution's. Bitwise the values and gradients of relu(conv2d(...)) on every
// device (the same convolution, then the elementwise ReLU's rule), a NaN kept; bf16 through autocast; without a
// bias; an unbatched image. Gradients against finite differences; nn::Sequential runs a Conv2d followed by a ReLU
// through it. (The launch it saves is counted in core.CudaTraining.)
#include <gtest/gtest.h>

#include <bit>

#include "core/amp/autocast.h"
#include "core/nn/nn.h"
#include "tests/support/allocations.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

// The fused op's autograd: relu's node on the output, the layer's own behind it (each frees what it saved when done).
void expect_relu_then(const Tensor& fused, const std::string& layer) {
  ASSERT_NE(fused.grad_fn(), nullptr);
  EXPECT_EQ(fused.grad_fn()->name(), "ReluBackward");
  ASSERT_EQ(fused.grad_fn()->next_edges.size(), 1u);
  ASSERT_TRUE(fused.grad_fn()->next_edges[0].valid());
  EXPECT_EQ(fused.grad_fn()->next_edges[0].node->name(), layer);
}

std::vector<uint64_t> bits(const Tensor& t) {
  std::vector<uint64_t> out;
  for (double v : t.to(DType::f64).to_vector<double>()) out.push_back(std::bit_cast<uint64_t>(v));
  return out;
}

TEST(ConvRelu, EqualsReluOfConv2dWithGradients) {
  for (DType dtype : {DType::f32, DType::f64}) {
    for (bool with_bias : {true, false}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + (with_bias ? " with bias" : " without bias"));
      Generator gen(31);
      const TensorOptions options{.dtype = dtype, .device = default_device()};
      auto leaf = [&](const Shape& shape) { return randn(shape, gen, options).requires_grad_(); };
      const Tensor x = leaf({2, 3, 7, 6}), w = leaf({4, 3, 3, 3});
      const Tensor b = with_bias ? leaf({4}) : Tensor();
      const Conv2dOptions conv{.stride = {2, 1}, .padding = {1, 1}};
      const Tensor fused = conv2d_relu(x, w, b, conv), reference = relu(conv2d(x, w, b, conv));
      expect_relu_then(fused, "Conv2dBackward");
      ASSERT_EQ(fused.shape(), reference.shape());
      EXPECT_EQ(bits(fused), bits(reference));
      const Tensor weights = randn(fused.shape(), gen, options);
      const std::vector<Tensor> inputs = with_bias ? std::vector<Tensor>{x, w, b} : std::vector<Tensor>{x, w};
      const std::vector<Tensor> fused_grads = autograd::grad({(fused * weights).sum()}, inputs);
      const std::vector<Tensor> reference_grads = autograd::grad({(reference * weights).sum()}, inputs);
      for (size_t i = 0; i < inputs.size(); ++i) EXPECT_EQ(bits(fused_grads[i]), bits(reference_grads[i])) << i;
    }
  }
}

// A NaN in the input spreads through the windows that read it and survives the ReLU, as PyTorch's relu keeps it
// (oneDNN's fused ReLU would turn it into 0, which is why the CPU clamps in a pass of its own); a NaN bias makes its
// channel NaN.
TEST(ConvRelu, KeepsNaN) {
  const TensorOptions options{.device = default_device()};
  Generator gen(5);
  Tensor x = randn({1, 2, 5, 5}, gen, options);
  x.slice(2, 2, 3).slice(3, 2, 3).fill_(NAN);
  Tensor b = randn({3}, gen, options);
  b.slice(0, 1, 2).fill_(NAN);
  const Tensor w = randn({3, 2, 3, 3}, gen, options);
  const Tensor fused = conv2d_relu(x, w, b, {.padding = {1, 1}});
  EXPECT_EQ(bits(fused), bits(relu(conv2d(x, w, b, {.padding = {1, 1}}))));
  const std::vector<float> values = fused.to_vector<float>();
  EXPECT_TRUE(std::isnan(values[0 * 25 + 12])) << "channel 0 at the NaN's window";
  for (int i = 0; i < 25; ++i) EXPECT_TRUE(std::isnan(values[25 + i])) << "channel 1 (NaN bias) at " << i;
  EXPECT_FALSE(std::isnan(values[0])) << "channel 0 far from the NaN";
}

// Under bf16 autocast the convolution runs in bf16 (natively on a GPU, through f32 elsewhere); the fused ReLU gives
// what relu of the bf16 convolution gives.
TEST(ConvRelu, Bf16UnderAutocast) {
  Generator gen(8);
  const TensorOptions options{.device = default_device()};
  const Tensor x = randn({2, 3, 6, 6}, gen, options).requires_grad_();
  const Tensor w = randn({5, 3, 3, 3}, gen, options).requires_grad_(), b = randn({5}, gen, options).requires_grad_();
  Tensor fused, reference;
  {
    const amp::AutocastGuard bf16(DType::bf16);
    fused = conv2d_relu(x, w, b);
    reference = relu(conv2d(x, w, b));
  }
  EXPECT_EQ(fused.dtype(), DType::bf16);
  EXPECT_EQ(bits(fused), bits(reference));
  const std::vector<Tensor> fused_grads = autograd::grad({fused.to(DType::f32).sum()}, {x, w, b});
  const std::vector<Tensor> reference_grads = autograd::grad({reference.to(DType::f32).sum()}, {x, w, b});
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(bits(fused_grads[i]), bits(reference_grads[i])) << i;
}

TEST(ConvRelu, UnbatchedImage) {
  Generator gen(2);
  const TensorOptions options{.device = default_device()};
  const Tensor x = randn({3, 5, 5}, gen, options), w = randn({2, 3, 3, 3}, gen, options), b = randn({2}, gen, options);
  const Tensor fused = conv2d_relu(x, w, b);
  EXPECT_EQ(fused.shape(), (Shape{2, 3, 3}));
  EXPECT_EQ(bits(fused), bits(relu(conv2d(x, w, b))));
}

TEST(ConvRelu, GradientsMatchFiniteDifferences) {
  expect_gradients_match(
      [](const Inputs& in) { return conv2d_relu(in[0], in[1], in[2], {.padding = {1, 0}}); },
      {random_leaf({2, 2, 4, 5}, 1), noncontiguous_leaf({3, 2, 2, 2}, 2), random_leaf({3}, 3)});
}

TEST(ConvRelu, SequentialRunsConv2dThenReluFused) {
  manual_seed(6);
  nn::Sequential net(nn::Conv2d({.in_channels = 2, .out_channels = 3, .kernel_size = 3}), nn::ReLU(), nn::Flatten());
  net.to(default_device());
  const Tensor x = randn({2, 2, 5, 5}, default_generator(), {.device = default_device()});
  const auto conv = net.at<nn::Conv2d>(0);
  const Tensor hidden = conv->forward_relu(x);
  expect_relu_then(hidden, "Conv2dBackward");
  EXPECT_EQ(bits(hidden), bits(relu(conv2d(x, conv->weight(), conv->bias()))));
  const Tensor out = net.forward(x);
  EXPECT_EQ(bits(out), bits(hidden.flatten(1)));
  // Fused, the convolution clamps its own output in place: one tensor less than conv2d, then relu.
  const NoGradGuard no_grad;
  EXPECT_EQ(testing::allocations_of([&] { net.forward(x); }) + 1,
            testing::allocations_of([&] { relu(conv2d(x, conv->weight(), conv->bias())).flatten(1); }));
}

}  // namespace
}  // namespace tessera
