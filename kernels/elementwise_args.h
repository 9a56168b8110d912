#pragma once
// The arguments of the elementwise backend entries: which op, the loop shape, and each operand as a pointer,
// a dtype and element strides over that shape (0 along broadcast dims). Fixed-size arrays, so a CUDA kernel can
// take them by value. The element math of every op is in kernels/elementwise_ops.h, written once for all devices.
//
// Operand dtypes (core/ops converts inputs before the call; a backend may reject anything else):
//  - UnaryOp::copy converts any dtype to any dtype; logical_not reads any dtype and writes bool.
//  - neg, abs, relu, clamp, pow_scalar: out and in of one numeric dtype (not bool).
//  - the other unary ops: out and in of one floating dtype.
//  - add, sub, mul, div, pow, maximum, minimum: out, a, b of one dtype (mul also bool: logical and; the others
//    not bool; div floating only).
//  - eq ... ge: a and b of one dtype, out bool.
//  - masked_fill: out and a of one dtype, b the bool mask; where_grad: a the bool condition, out and b floating.
//  - the *_backward binary ops: out, a (the incoming gradient) and b (the saved tensor) of one floating dtype.
//  - where: a the bool condition, out, b, c of one dtype; pow_backward_*: out, a (gradient), b (base),
//    c (exponent) of one floating dtype.
// Scalars: add/sub alpha = a; clamp bounds a (if has_a) and b (if has_b); leaky_relu slope = a; pow_scalar
// exponent = a; masked_fill value = a; where_grad passes the gradient where the condition == (a != 0).
#include <cstdint>

#include "kernels/common/dtype.h"

namespace tessera::kernels {

constexpr int kMaxDims = 12;

struct LoopShape {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
};

struct StridedArg {
  void* data = nullptr;  // element 0, in the backend's memory
  DType dtype = DType::f32;
  int64_t strides[kMaxDims] = {};  // in elements, one per loop dim
};

struct OpScalars {
  double a = 0.0;
  double b = 0.0;
  bool has_a = true;
  bool has_b = true;
};

enum class UnaryOp : uint8_t {
  copy, neg, abs, relu, clamp, pow_scalar, logical_not,
  exp, log, sqrt, rsqrt, sigmoid, tanh, gelu, gelu_tanh, leaky_relu, silu,
};

enum class BinaryOp : uint8_t {
  add, sub, mul, div, pow, maximum, minimum,
  eq, ne, lt, le, gt, ge,
  masked_fill, where_grad,
  relu_backward, sigmoid_backward, tanh_backward, sqrt_backward, rsqrt_backward, abs_backward, clamp_backward,
  gelu_backward, gelu_tanh_backward, leaky_relu_backward, pow_scalar_backward, silu_backward,
};

enum class TernaryOp : uint8_t { where, pow_backward_base, pow_backward_exponent };

const char* op_name(UnaryOp op);
const char* op_name(BinaryOp op);
const char* op_name(TernaryOp op);

}  // namespace tessera::kernels
