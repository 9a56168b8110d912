#pragma once
// Elementwise ops with NumPy/PyTorch broadcasting and type promotion. Floating ops on integer tensors compute
// in the default float type. All differentiable in their floating inputs.
#include <optional>

#include "core/tensor.h"

namespace tessera {

Shape broadcast_shapes(const Shape& a, const Shape& b);  // error names both shapes when they do not broadcast
// Sums `grad` down to `shape` (the inverse of broadcasting `shape` up to grad's shape).
Tensor sum_to(const Tensor& grad, const Shape& shape);

Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a + alpha * b
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
// True division: an integer or bool a divides in the default float type, a floating a in its own (as PyTorch).
Tensor div(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor rsub(const Tensor& a, double b);  // b - a
Tensor rdiv(const Tensor& a, double b);  // b / a
Tensor neg(const Tensor& x);
// Elementwise max / min of a and b (not bool); a NaN on either side gives NaN, as torch.maximum / torch.minimum.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor pow(const Tensor& x, const Tensor& exponent);
Tensor abs(const Tensor& x);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x, bool tanh_approximation = false);  // PyTorch approximate="none" | "tanh"
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor silu(const Tensor& x);  // x * sigmoid(x) (Keras's swish)

// Comparisons return bool tensors (not differentiable).
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor logical_not(const Tensor& x);

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);  // differentiable in a and b
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);    // differentiable in x

// Elementwise copy with dtype conversion and broadcasting of src into dst (no autograd).
void copy_into(const Tensor& dst, const Tensor& src);

}  // namespace tessera
