// linear_relu (core/ops/linalg.h): one GEMM with the bias and the ReLU in its epilogue. Same values and gradients
// as relu(linear(...)): bitwise on the CPU and the test device (the same arithmetic: the bias broadcast into the
// output, then accumulated onto), within rounding on a GPU (cuBLASLt adds the bias after accumulating). Gradients
// against finite differences; nn::Sequential runs a Linear followed by a ReLU through it.
#include <gtest/gtest.h>

#include "core/nn/nn.h"
#include "tests/support/allocations.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

void expect_same(const Tensor& fused, const Tensor& reference, const std::string& what) {
  if (fused.device().type == DeviceType::cuda) {
    expect_close(fused.to(DType::f64).to(Device()), reference.to(DType::f64).to(Device()), 1e-5, 1e-5);
  } else {
    EXPECT_EQ(fused.to_vector<double>(), reference.to_vector<double>()) << what;
  }
}

TEST(LinearRelu, EqualsReluOfLinearWithGradients) {
  for (DType dtype : {DType::f32, DType::f64}) {
    Generator gen(21);
    const TensorOptions options{.dtype = dtype, .device = default_device()};
    auto leaf = [&](const Shape& shape) { return randn(shape, gen, options).requires_grad_(); };
    const Tensor x = leaf({5, 3, 7}), w = leaf({4, 7}), b = leaf({4});
    const Tensor weights = randn({5, 3, 4}, gen, options);
    const Tensor fused = linear_relu(x, w, b);
    const Tensor reference = relu(linear(x, w, b));
    EXPECT_EQ(fused.shape(), (Shape{5, 3, 4}));
    expect_same(fused, reference, "values");
    const std::vector<Tensor> fused_grads = autograd::grad({(fused * weights).sum()}, {x, w, b});
    const std::vector<Tensor> reference_grads = autograd::grad({(reference * weights).sum()}, {x, w, b});
    for (size_t i = 0; i < 3; ++i) expect_same(fused_grads[i], reference_grads[i], "gradient " + std::to_string(i));
  }
}

TEST(LinearRelu, GradientsMatchFiniteDifferences) {
  expect_gradients_match([](const Inputs& in) { return linear_relu(in[0], in[1], in[2]); },
                         {random_leaf({6, 5}, 1), noncontiguous_leaf({3, 5}, 2), random_leaf({3}, 3)});
}

TEST(LinearRelu, SequentialRunsLinearThenReluFused) {
  manual_seed(4);
  nn::Sequential net(nn::Linear(7, 4), nn::ReLU(), nn::Linear(4, 3));
  net.to(default_device());
  const Tensor x = randn({5, 7}, default_generator(), {.device = default_device()});
  const auto first = net.at<nn::Linear>(0), second = net.at<nn::Linear>(2);
  const Tensor hidden = net.at<nn::Linear>(0)->forward_relu(x);
  EXPECT_EQ(hidden.grad_fn()->name(), "ReluBackward");  // then LinearBackward: each node frees its saved tensors
  EXPECT_EQ(hidden.grad_fn()->next_edges.at(0).node->name(), "LinearBackward");
  expect_same(hidden, relu(linear(x, first->weight(), first->bias())), "hidden layer");
  expect_same(net.forward(x), linear(hidden, second->weight(), second->bias()), "output");
  // Fused, the first layer clamps its own output in place: one tensor less than linear, then relu.
  const NoGradGuard no_grad;
  EXPECT_EQ(testing::allocations_of([&] { net.forward(x); }) + 1, testing::allocations_of([&] {
              linear(relu(linear(x, first->weight(), first->bias())), second->weight(), second->bias());
            }));
}

// No input features (as torch.nn.functional.linear allows): the product is empty, so the output is the bias in
// every row (through the ReLU), the weight's gradient is empty and the bias's the sum of the output gradient.
TEST(LinearRelu, NoInputFeaturesGiveTheBias) {
  const TensorOptions options{.dtype = DType::f32, .device = default_device()};
  const Tensor x = empty({2, 3, 0}, options).requires_grad_(), w = empty({4, 0}, options).requires_grad_();
  const Tensor b = tensor<float>({0.5f, -1.0f, 2.0f, -0.25f}, {4}).to(default_device()).requires_grad_();
  for (bool relu_too : {false, true}) {
    const Tensor y = relu_too ? linear_relu(x, w, b) : linear(x, w, b);
    ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
    const std::vector<float> row = relu_too ? std::vector<float>{0.5f, 0.0f, 2.0f, 0.0f}
                                            : std::vector<float>{0.5f, -1.0f, 2.0f, -0.25f};
    std::vector<float> expected;
    for (int r = 0; r < 6; ++r) expected.insert(expected.end(), row.begin(), row.end());
    EXPECT_EQ(y.to_vector<float>(), expected) << (relu_too ? "linear_relu" : "linear");
    const std::vector<Tensor> grads = autograd::grad({y.sum()}, {x, w, b});
    EXPECT_EQ(grads[0].shape(), (Shape{2, 3, 0}));
    EXPECT_EQ(grads[1].shape(), (Shape{4, 0}));
    EXPECT_EQ(grads[2].to_vector<float>(), relu_too ? std::vector<float>({6, 0, 6, 0}) : std::vector<float>(4, 6.0f));
  }
}

TEST(LinearRelu, WithoutBiasIsReluOfLinear) {
  const Tensor x = randn({2, 3}, default_generator(), {.device = default_device()});
  const Tensor w = randn({4, 3}, default_generator(), {.device = default_device()}).requires_grad_();
  const Tensor y = linear_relu(x, w);
  EXPECT_EQ(y.grad_fn()->name(), "ReluBackward");
  expect_same(y, relu(linear(x, w)), "values");
}

}  // namespace
}  // namespace tessera
