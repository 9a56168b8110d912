#pragma once
// Internal: the front end of the backend's elementwise entries. Ops compute dtypes and shapes, allocate the
// output on their inputs' device, and call these; they build each operand's broadcast strides and make one
// backend call. Not part of the public API.
#include <initializer_list>

#include "core/ops/pointwise.h"
#include "core/tensor.h"
#include "kernels/elementwise_args.h"

namespace tessera::detail {

using kernels::BinaryOp;
using kernels::OpScalars;
using kernels::TernaryOp;
using kernels::UnaryOp;

// The device all `tensors` are on; an error naming `op` and two differing devices otherwise.
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);

// The loop an entry walks: t's shape (at most kernels::kMaxDims dims; `op` names the caller otherwise).
kernels::LoopShape loop_shape(const Tensor& t, const char* op);

// out = op(inputs...), inputs broadcast to out's shape; out may alias an input at the same positions (in-place).
void unary_into(UnaryOp op, const Tensor& out, const Tensor& in, const OpScalars& scalars = {});
void binary_into(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, const OpScalars& scalars = {});
void ternary_into(TernaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c,
                  const OpScalars& scalars = {});
void fill_into(const Tensor& out, double value);

// out = a + alpha * b and out = a * b in out's dtype, with broadcasting; out may alias a (in-place ops).
void add_into(const Tensor& out, const Tensor& a, const Tensor& b, double alpha = 1.0);
void mul_into(const Tensor& out, const Tensor& a, const Tensor& b);

// The dtype a floating op computes in for an input of `dtype` (integers become the default float).
inline DType float_result_type(DType dtype) { return is_floating(dtype) ? dtype : default_float(); }

// y = op(x) as a new tensor of x's floating type (integers compute in the default float type).
Tensor map_floating(const Tensor& x, UnaryOp op, const OpScalars& scalars = {});
// y = op(x) in x's own dtype (integers stay integers: abs, relu). Not for bool.
Tensor map_numeric(const Tensor& x, UnaryOp op, const OpScalars& scalars = {});
// grad_in = op(grad, saved) in saved's floating dtype (grad converted to it); grad and saved have one shape.
Tensor backward_map(const Tensor& grad, const Tensor& saved, BinaryOp op, const OpScalars& scalars = {});
// Records relu's backward (ReluBackward, from the output) between `input` and `output`.
void record_relu(const Tensor& input, const Tensor& output);
// For the fused layers (linear_relu, conv2d_relu), whose kernels clamp their output: `clamped` (carrying the
// layer's own backward) as relu's output, a second handle to the same values with ReluBackward recorded from it.
// Backward then runs relu, then the layer, each node freeing what it saved when done; one node for both would keep
// the output and its gradient alive through the layer's backward (an activation-sized tensor more at the peak).
Tensor clamped_as_relu_output(const Tensor& clamped);

// A whole number an i64 holds: the range is checked before the cast, which is undefined for inf, NaN and |v| >= 2^63.
inline bool is_integral_value(double v) {
  return v >= -0x1p63 && v < 0x1p63 && v == static_cast<double>(static_cast<int64_t>(v));
}

// The dtype of `t (op) scalars...`: t's dtype; an integral or bool tensor meeting a fractional number computes in
// the default float type; a bool tensor meeting numbers computes in i64.
inline DType scalar_result_type(DType tensor, std::initializer_list<double> scalars) {
  if (is_floating(tensor)) return tensor;
  for (double s : scalars)
    if (!is_integral_value(s)) return default_float();
  return tensor == DType::boolean ? DType::i64 : tensor;
}

}  // namespace tessera::detail
