// The README's "short tour" code, compiled and run as written, so the documentation cannot drift from the API.
#include <gtest/gtest.h>

#include <cmath>

#include "core/core.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"

namespace tessera {
namespace {

TEST(ReadmeTour, RunsAsWritten) {
  Tensor x = randn({128, 784});
  Tensor w = zeros({10, 784}, {.requires_grad = true});
  Tensor loss = cross_entropy(linear(x, w), randint(0, 10, {128}));
  loss.backward();
  {
    NoGradGuard no_grad;
    w.add_(w.grad(), -0.1);
  }
  Tensor y = x.reshape({128, 28, 28}).transpose(1, 2).contiguous();

  EXPECT_NEAR(loss.item<double>(), std::log(10.0), 1e-5);  // zero weights: uniform prediction over 10 classes
  EXPECT_EQ(w.grad().shape(), (Shape{10, 784}));
  EXPECT_EQ(y.shape(), (Shape{128, 28, 28}));
  EXPECT_EQ(y.select(0, 0).select(0, 1).select(0, 0).item<float>(), x.select(0, 0).select(0, 1).item<float>());
  EXPECT_GT(abs(w.detach()).sum().item<double>(), 0.0);  // the SGD step moved the weights
}

}  // namespace
}  // namespace tessera
