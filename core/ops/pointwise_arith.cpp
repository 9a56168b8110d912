// Broadcasting arithmetic (add, sub, mul, div, neg) and sum_to: the base every other op uses.
#include "core/amp/autocast.h"
#include "core/autograd/node.h"
#include "core/ops/elementwise.h"
#include "core/ops/factory.h"
#include "core/ops/reduce.h"

namespace tessera {

using autograd::Node;
using detail::BinaryOp;
using Grads = std::vector<Tensor>;

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TESSERA_CHECK(da == db || da == 1 || db == 1, "shapes ", shape_str(a), " and ", shape_str(b),
                  " cannot be broadcast together (dimension ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const size_t lead = grad.dim() - shape.size();
  Shape dims;
  for (size_t i = 0; i < static_cast<size_t>(grad.dim()); ++i)
    if (i < lead || (shape[i - lead] == 1 && grad.shape()[i] != 1)) dims.push_back(static_cast<int64_t>(i));
  Tensor reduced = dims.empty() ? grad : sum(grad, dims, /*keepdim=*/true);
  return reduced.reshape(shape);
}

namespace {

enum class Arith { add, sub, mul, div };

BinaryOp binary_op(Arith op) {
  switch (op) {
    case Arith::add: return BinaryOp::add;
    case Arith::sub: return BinaryOp::sub;
    case Arith::mul: return BinaryOp::mul;
    case Arith::div: return BinaryOp::div;
  }
  return BinaryOp::add;
}

Tensor arith_forward(Arith op, const Tensor& a, const Tensor& b, double alpha) {
  const char* name = kernels::op_name(binary_op(op));
  DType type = result_type(a, b);
  if (op == Arith::div) type = detail::float_result_type(type);  // true division
  // As PyTorch: bool add is logical or (a || alpha && b), mul logical and, and sub with any bool operand refused
  // (bool - bool, 1 - mask and mask - x alike): inverting a mask is logical_not, exclusive or is ne.
  TESSERA_CHECK(op != Arith::sub || (a.dtype() != DType::boolean && b.dtype() != DType::boolean), name,
                ": not defined for a bool tensor; to invert a mask use logical_not, for exclusive or ne(a, b)");
  // As PyTorch ("For integral input tensors, argument alpha must not be a floating point number"): the kernel
  // converts alpha to the integer type, so add(a, b, 0.5) of i64 tensors silently added 0 * b.
  TESSERA_CHECK(is_floating(type) || detail::is_integral_value(alpha), name, ": alpha ", alpha,
                " is not a whole number, which the ", dtype_name(type), " result cannot take (convert the operands ",
                "to a floating dtype first)");
  const Device device = detail::common_device(name, {&a, &b});
  Tensor out = empty(broadcast_shapes(a.shape(), b.shape()), {.dtype = type, .device = device});
  detail::binary_into(binary_op(op), out, a.to(type), b.to(type), {.a = alpha});
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  Tensor out = arith_forward(Arith::add, a, b, alpha);
  autograd::record("AddBackward", {a, b}, {out}, {}, [alpha](const Grads& g, const Grads&, const Node& n) {
    return Grads{n.needs_input_grad(0) ? sum_to(g[0], n.input_meta[0].shape) : Tensor(),
                 n.needs_input_grad(1) ? sum_to(alpha == 1.0 ? g[0] : mul(g[0], alpha), n.input_meta[1].shape)
                                       : Tensor()};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  Tensor out = arith_forward(Arith::sub, a, b, alpha);
  autograd::record("SubBackward", {a, b}, {out}, {}, [alpha](const Grads& g, const Grads&, const Node& n) {
    return Grads{n.needs_input_grad(0) ? sum_to(g[0], n.input_meta[0].shape) : Tensor(),
                 n.needs_input_grad(1) ? sum_to(mul(g[0], -alpha), n.input_meta[1].shape) : Tensor()};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = arith_forward(Arith::mul, a, b, 1.0);
  autograd::record("MulBackward", {a, b}, {out}, {a, b}, [](const Grads& g, const Grads& s, const Node& n) {
    return Grads{n.needs_input_grad(0) ? sum_to(mul(g[0], s[1]), n.input_meta[0].shape) : Tensor(),
                 n.needs_input_grad(1) ? sum_to(mul(g[0], s[0]), n.input_meta[1].shape) : Tensor()};
  });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = arith_forward(Arith::div, a, b, 1.0);
  autograd::record("DivBackward", {a, b}, {out}, {a, b}, [](const Grads& g, const Grads& s, const Node& n) {
    Tensor ga, gb;
    if (n.needs_input_grad(0)) ga = sum_to(div(g[0], s[1]), n.input_meta[0].shape);
    // PyTorch's -g * ((a / b) / b): squaring b first overflows (f16: |b| > 256, f32: |b| > 1.8e19) or underflows
    // to 0 and gives 0 or -inf where the gradient is finite.
    if (n.needs_input_grad(1)) gb = sum_to(neg(mul(g[0], div(div(s[0], s[1]), s[1]))), n.input_meta[1].shape);
    return Grads{ga, gb};
  });
  return out;
}

namespace {
// A scalar operand as a 0-d tensor of the type PyTorch would give the result: the tensor's own type, unless an
// integer tensor meets a fractional scalar.
Tensor scalar_operand(const Tensor& t, double value) {
  DType type = t.dtype();
  if (is_integral(type) && !detail::is_integral_value(value)) type = default_float();
  if (type == DType::boolean) type = DType::i64;
  return scalar_tensor(value, {.dtype = type, .device = t.device()});
}
}  // namespace

Tensor add(const Tensor& a, double b) { return add(a, scalar_operand(a, b)); }
Tensor mul(const Tensor& a, double b) { return mul(a, scalar_operand(a, b)); }
Tensor sub(const Tensor& a, double b) { return sub(a, scalar_operand(a, b)); }
Tensor rsub(const Tensor& a, double b) { return sub(scalar_operand(a, b), a); }
// Each quotient rounded once, as PyTorch's: a * (1 / b) differs in the last bit for about a third of f32 values
// over 3, and overflows where 1 / b does. Integer and bool tensors divide in the default float type whatever b is
// (u8 200 / 0.5 is 400.0, not 200 * 2 wrapped in u8); a floating tensor takes b in its own dtype (bf16 included).
Tensor div(const Tensor& a, double b) {
  const DType type = is_floating(a.dtype()) ? a.dtype() : default_float();
  return div(a, scalar_tensor(b, {.dtype = type, .device = a.device()}));
}
// s / x is PyTorch's x.reciprocal() * s, and reciprocal is on autocast's f32 list.
Tensor rdiv(const Tensor& a, double b) {
  if (amp::casts_to_f32({&a})) return rdiv(amp::to_f32(a), b);
  return div(scalar_operand(a, b), a);
}

Tensor neg(const Tensor& x) {
  TESSERA_CHECK(x.dtype() != DType::boolean, "neg: not defined for bool tensors; use logical_not");
  Tensor out = detail::map_numeric(x, detail::UnaryOp::neg);
  autograd::record("NegBackward", {x}, {out}, {}, [](const Grads& g, const Grads&, const Node&) {
    return Grads{neg(g[0])};
  });
  return out;
}

}  // namespace tessera
