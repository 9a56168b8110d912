// The README's "short tour" code (its first C++ snippet, cut out of README.md at configure time by
// tests/CMakeLists.txt), compiled and run as written, so the documentation cannot drift from the API.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "core/core.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"

namespace tessera {
namespace {

TEST(ReadmeTour, RunsAsWritten) {
#include "readme_snippet_1.inc"

  EXPECT_NEAR(loss.item<double>(), std::log(10.0), 1e-5);  // zero weights: uniform prediction over 10 classes
  EXPECT_EQ(w.grad().shape(), (Shape{10, 784}));
  EXPECT_EQ(y.shape(), (Shape{128, 28, 28}));
  EXPECT_EQ(y.select(0, 0).select(0, 1).select(0, 0).item<float>(), x.select(0, 0).select(0, 1).item<float>());
  EXPECT_GT(abs(w.detach()).sum().item<double>(), 0.0);  // the SGD step moved the weights
  EXPECT_EQ(labels.shape(), (Shape{128}));
  EXPECT_TRUE(accuracy >= 0.0f && accuracy <= 1.0f) << accuracy;
}

}  // namespace
}  // namespace tessera
