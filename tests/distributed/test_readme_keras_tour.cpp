// The README's Keras-level snippet (its second C++ snippet, cut out of README.md at configure time by
// tests/CMakeLists.txt), compiled and run as written (one process: the data-parallel context is then a no-op), so
// the documentation cannot drift from the API. `images` and `labels` are the data it assumes.
#include <gtest/gtest.h>

#include <iostream>

#include "core/core.h"
#include "core/model/model.h"
#include "distributed/data_parallel_context.h"

namespace tessera {
namespace {

TEST(ReadmeKerasTour, RunsAsWritten) {
  Generator gen(3);
  Tensor labels = randint(0, 10, {256}, gen);
  Tensor images = randn({256, 1, 4, 4}, gen) + labels.to(DType::f32).reshape({256, 1, 1, 1});  // learnable

#include "readme_snippet_2.inc"

  EXPECT_EQ(net.step(), 20);
  EXPECT_EQ(net.module().num_parameters(), 16 * 10 + 10);
}

}  // namespace
}  // namespace tessera
