#pragma once
// Comparing Tessera with a PyTorch expression: each case is a PyTorch expression over inputs a, b, c, ... and
// the same computation in Tessera. All cases of a call go to tests/torch_ref/expr.py in one python run; outputs
// must agree in dtype and value, and so must the gradients of every floating input (each requires grad), for a
// fixed random output gradient. Inputs are sent as contiguous values, so non-contiguous Tessera inputs are
// compared too. Tolerances: torch_tolerance of the least precise floating operand or output.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/core.h"

namespace tessera::testing {

struct TorchExprCase {
  std::string expr;                                      // PyTorch, over a, b, c, ...
  std::function<Tensor(const std::vector<Tensor>&)> fn;  // Tessera
  std::vector<Tensor> inputs;
};

// Uniform [low, high) values of `shape` in `dtype` (rounded toward zero for integer dtypes).
Tensor uniform_tensor(const Shape& shape, DType dtype, uint64_t seed, double low = -1.0, double high = 1.0);

// The same values stored transposed (last two dims swapped in memory): a non-contiguous input.
Tensor transposed_tensor(const Shape& shape, DType dtype, uint64_t seed, double low = -1.0, double high = 1.0);

// Tolerance for comparing a result of `dtype` with PyTorch's (absolute and relative alike); 0 (exact) for
// integers and bools.
double torch_tolerance(DType dtype);

void expect_matches_torch_exprs(const std::vector<TorchExprCase>& cases);

}  // namespace tessera::testing
