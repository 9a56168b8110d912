#pragma once
// Comparing Tessera with PyTorch, values and gradients. The engine (expect_matches_torch_script) runs a batch of
// cases through Tessera and through one tests/torch_ref script in one python run: outputs must agree in dtype and
// value, and so must the gradients of the inputs that require grad (the others must have none), for a fixed
// random output gradient (uniform [-1, 1), seed 1000 + case index) sent along. Inputs are sent as contiguous
// values, so non-contiguous Tessera inputs are compared too; an undefined leaf is an absent optional input, sent
// as null (with requires_grad false), and must get no gradient.
// expect_matches_torch_exprs is the common front end: a PyTorch expression over inputs a, b, c, ... (every
// floating input requires grad) vs the same Tessera lambda, through tests/torch_ref/expr.py, within
// torch_tolerance of the least precise floating operand or output.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/core.h"

namespace tessera::testing {

struct TorchRefCase {
  std::string name;                                      // for failure messages
  nlohmann::json request;                                // {"op": handler in the script, ...its own fields}
  std::function<Tensor(const std::vector<Tensor>&)> fn;  // Tessera
  std::vector<Tensor> leaves;                            // its inputs (undefined: absent); "inputs" and
                                                         // "requires_grad" are sent
};

struct Tolerance {
  double atol = 0.0, rtol = 0.0;
};
using ToleranceFn = std::function<Tolerance(const Tensor& output, const std::vector<Tensor>& leaves)>;

// `answers`, when given, receives the script's answers (for op-specific extra checks).
void expect_matches_torch_script(const std::string& script, const std::vector<TorchRefCase>& cases,
                                 const ToleranceFn& tolerance, nlohmann::json* answers = nullptr);

// A ToleranceFn for ops that accumulate many terms in an order PyTorch need not share (convolution, pooling,
// normalisation): f64 1e-10 absolute / 1e-9 relative, otherwise 2e-4 / 1e-4.
Tolerance accumulation_tolerance(const Tensor& output, const std::vector<Tensor>& leaves);

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
