// Comparisons (bool results, never differentiable), logical_not, and the two selecting ops, where and masked_fill,
// which are differentiable in the values they pass through. Operands compare in their promoted dtype (a number
// takes the tensor's dtype: f32 0.1f == 0.1 is true, as in PyTorch). Conditions and masks are bool (u8 is
// accepted as nonzero = true, PyTorch's deprecated form).
#include "core/autograd/node.h"
#include "core/ops/factory.h"
#include "core/ops/elementwise.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

using detail::BinaryOp;

Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b) {
  const DType type = result_type(a, b);
  const Device device = detail::common_device(kernels::op_name(op), {&a, &b});
  Tensor out = empty(broadcast_shapes(a.shape(), b.shape()), {.dtype = DType::boolean, .device = device});
  detail::binary_into(op, out, a.detach().to(type), b.detach().to(type));
  return out;
}

// A number as a 0-d tensor of the dtype the comparison happens in.
Tensor scalar_like(const Tensor& t, double value) {
  return scalar_tensor(value, {.dtype = detail::scalar_result_type(t.dtype(), {value}), .device = t.device()});
}

// A condition or mask as bool; `op` and `what` name it in the error.
Tensor as_condition(const Tensor& c, const char* op, const char* what) {
  TESSERA_CHECK(c.dtype() == DType::boolean || c.dtype() == DType::u8, op, ": expected a bool ", what, ", got ",
                dtype_name(c.dtype()), " (shape ", shape_str(c.shape()), ")");
  return c.detach().to(DType::boolean);
}

// grad where `keep` says so (cond == keep_when), else 0; summed down to `shape` (broadcast inputs).
Tensor select_grad(const Tensor& grad, const Tensor& cond, bool keep_when, const Shape& shape) {
  Tensor out = empty_like(grad);
  detail::binary_into(BinaryOp::where_grad, out, cond, grad, {.a = keep_when ? 1.0 : 0.0});
  return sum_to(out, shape);
}

}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare(BinaryOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(BinaryOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(BinaryOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(BinaryOp::ge, a, b); }
Tensor eq(const Tensor& a, double b) { return compare(BinaryOp::eq, a, scalar_like(a, b)); }
Tensor gt(const Tensor& a, double b) { return compare(BinaryOp::gt, a, scalar_like(a, b)); }
Tensor lt(const Tensor& a, double b) { return compare(BinaryOp::lt, a, scalar_like(a, b)); }

Tensor logical_not(const Tensor& x) {
  Tensor out = empty(x.shape(), {.dtype = DType::boolean, .device = x.device()});
  detail::unary_into(detail::UnaryOp::logical_not, out, x);
  return out;
}

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  const Tensor cond = as_condition(condition, "where", "condition");
  const DType type = result_type(a, b);
  // Computed and recorded on the converted operands: their ToCopyBackward nodes restore each input's dtype.
  const Tensor x = a.to(type);
  const Tensor y = b.to(type);
  const Device device = detail::common_device("where", {&cond, &a, &b});
  Tensor out = empty(broadcast_shapes(cond.shape(), broadcast_shapes(a.shape(), b.shape())),
                     {.dtype = type, .device = device});
  detail::ternary_into(detail::TernaryOp::where, out, cond, x, y);
  autograd::record("WhereBackward", {x, y}, {out}, {cond}, [](const Grads& g, const Grads& s, const Node& n) {
    return Grads{n.needs_input_grad(0) ? select_grad(g[0], s[0], true, n.input_meta[0].shape) : Tensor(),
                 n.needs_input_grad(1) ? select_grad(g[0], s[0], false, n.input_meta[1].shape) : Tensor()};
  });
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  const Tensor m = as_condition(mask, "masked_fill", "mask");
  const Device device = detail::common_device("masked_fill", {&x, &m});
  Tensor out = empty(broadcast_shapes(x.shape(), m.shape()), {.dtype = x.dtype(), .device = device});
  detail::binary_into(BinaryOp::masked_fill, out, x, m, {.a = value});
  autograd::record("MaskedFillBackward", {x}, {out}, {m}, [](const Grads& g, const Grads& s, const Node& n) {
    return Grads{select_grad(g[0], s[0], false, n.input_meta[0].shape)};
  });
  return out;
}

}  // namespace tessera
