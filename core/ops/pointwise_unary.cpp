// Unary ops: forward through detail::map_floating (integers compute in the default float type) or
// detail::map_numeric (abs, relu, clamp keep integer dtypes, as in PyTorch); backward is one fused backend pass
// (detail::backward_map) from the saved input or output. The element math is kernels/elementwise_ops.h.
#include "core/amp/autocast.h"
#include "core/autograd/node.h"
#include "core/ops/elementwise.h"
#include "core/ops/factory.h"

namespace tessera {

using autograd::Node;
using detail::BinaryOp;
using detail::UnaryOp;
using Grads = std::vector<Tensor>;

namespace {

// y = op(x) (floating), with backward grad_in = backward_op(grad, y): the ops whose gradient needs only the output.
Tensor floating_with_output_grad(const Tensor& x, UnaryOp op, BinaryOp backward_op, const char* node) {
  Tensor out = detail::map_floating(x, op);
  autograd::record(node, {x}, {out}, {out}, [backward_op](const Grads& g, const Grads& s, const Node&) {
    return Grads{detail::backward_map(g[0], s[0], backward_op)};
  });
  return out;
}

// A clamp bound for an integer dtype, checked as PyTorch checks it (c10::checked_convert: "value cannot be converted
// to type int without overflow"). Converted unchecked in the kernel (ClampBounds' T(bound)), a bound the dtype
// cannot hold is undefined behaviour: x86 makes 1e10 INT_MIN for i32, so clamp(x, max=1e10) set every value to
// INT_MIN. u8 takes -255..255, as PyTorch, a negative bound wrapping (-1 is 255).
double integer_bound(double bound, DType type, const char* which, const Shape& shape) {
  const bool fits = type == DType::u8    ? bound >= -255.0 && bound <= 255.0
                    : type == DType::i32 ? bound >= -2147483648.0 && bound <= 2147483647.0
                                         : bound >= -0x1p63 && bound < 0x1p63;
  TESSERA_CHECK(fits, "clamp: ", which, " ", bound, " cannot be converted to ", dtype_name(type),
                " without overflow (input shape ", shape_str(shape), ")");
  return type == DType::u8 && bound < 0 ? bound + 256.0 : bound;
}

}  // namespace

Tensor exp(const Tensor& x) {
  if (amp::casts_to_f32({&x})) return exp(amp::to_f32(x));  // on autocast's f32 list, as in PyTorch
  Tensor out = detail::map_floating(x, UnaryOp::exp);
  autograd::record("ExpBackward", {x}, {out}, {out}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{mul(g[0], s[0])};
  });
  return out;
}

Tensor log(const Tensor& x) {
  if (amp::casts_to_f32({&x})) return log(amp::to_f32(x));
  Tensor out = detail::map_floating(x, UnaryOp::log);
  autograd::record("LogBackward", {x}, {out}, {x}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{div(g[0], s[0])};
  });
  return out;
}

namespace detail {
void record_relu(const Tensor& input, const Tensor& output) {
  autograd::record("ReluBackward", {input}, {output}, {output}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{backward_map(g[0], s[0], BinaryOp::relu_backward)};
  });
}

Tensor clamped_as_relu_output(const Tensor& clamped) {
  const Tensor activated = clamped.detach();
  record_relu(clamped, activated);
  return activated;
}
}  // namespace detail

Tensor relu(const Tensor& x) {
  TESSERA_CHECK(x.dtype() != DType::boolean, "relu: not defined for bool tensors");
  Tensor out = detail::map_numeric(x, UnaryOp::relu);
  detail::record_relu(x, out);
  return out;
}

Tensor sigmoid(const Tensor& x) {
  return floating_with_output_grad(x, UnaryOp::sigmoid, BinaryOp::sigmoid_backward, "SigmoidBackward");
}

Tensor tanh(const Tensor& x) {
  return floating_with_output_grad(x, UnaryOp::tanh, BinaryOp::tanh_backward, "TanhBackward");
}

Tensor sqrt(const Tensor& x) {
  return floating_with_output_grad(x, UnaryOp::sqrt, BinaryOp::sqrt_backward, "SqrtBackward");
}

Tensor rsqrt(const Tensor& x) {
  if (amp::casts_to_f32({&x})) return rsqrt(amp::to_f32(x));
  return floating_with_output_grad(x, UnaryOp::rsqrt, BinaryOp::rsqrt_backward, "RsqrtBackward");
}

Tensor abs(const Tensor& x) {
  TESSERA_CHECK(x.dtype() != DType::boolean, "abs: not defined for bool tensors");
  Tensor out = detail::map_numeric(x, UnaryOp::abs);
  autograd::record("AbsBackward", {x}, {out}, {x}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{detail::backward_map(g[0], s[0], BinaryOp::abs_backward)};
  });
  return out;
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  TESSERA_CHECK(min || max, "clamp: at least one of min and max must be given (input shape ", shape_str(x.shape()),
                ")");
  const DType type = detail::scalar_result_type(x.dtype(), {min.value_or(0.0), max.value_or(0.0)});
  TESSERA_CHECK(type != DType::boolean, "clamp: not defined for bool tensors");
  if (is_integral(type)) {
    if (min) min = integer_bound(*min, type, "min", x.shape());
    if (max) max = integer_bound(*max, type, "max", x.shape());
  }
  const Tensor in = x.to(type);
  const detail::OpScalars bounds{.a = min.value_or(0.0), .b = max.value_or(0.0), .has_a = min.has_value(),
                                 .has_b = max.has_value()};
  Tensor out = detail::map_numeric(in, UnaryOp::clamp, bounds);
  autograd::record("ClampBackward", {x}, {out}, {in}, [bounds](const Grads& g, const Grads& s, const Node&) {
    return Grads{detail::backward_map(g[0], s[0], BinaryOp::clamp_backward, bounds)};
  });
  return out;
}

}  // namespace tessera
