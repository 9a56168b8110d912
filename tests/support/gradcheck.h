#pragma once
// Gradient checking against central finite differences, in f64, like torch.autograd.gradcheck.
#include <functional>
#include <vector>

#include "core/core.h"

namespace tessera::testing {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-5;
};

// Checks d(sum(fn(inputs) * w))/d(input) for a fixed random w against finite differences, for every input that
// requires grad. Inputs may be non-contiguous leaves (see noncontiguous_leaf). Reports mismatches as gtest
// failures naming the input and element.
void expect_gradients_match(const std::function<Tensor(const std::vector<Tensor>&)>& fn, std::vector<Tensor> inputs,
                            GradcheckOptions options = {});

// A random f64 leaf of `shape` that requires grad (values in [low, high)).
Tensor random_leaf(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0);
// The same values stored transposed (last two dims swapped in memory), so the leaf is not contiguous.
Tensor noncontiguous_leaf(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0);

// Element `flat` (row-major over the view's shape) of a strided tensor, as a 0-d view sharing its storage.
Tensor element_view(const Tensor& t, int64_t flat);

// gtest assertion that two tensors have the same shape and values within atol + rtol * |expected|.
void expect_close(const Tensor& actual, const Tensor& expected, double atol = 1e-6, double rtol = 1e-5);

}  // namespace tessera::testing
