// Comparisons (bool results, never differentiable), logical_not, and the two selecting ops, where and masked_fill,
// which are differentiable in the values they pass through. Operands compare in their promoted dtype (a number
// takes the tensor's dtype: f32 0.1f == 0.1 is true, as in PyTorch). Conditions and masks are bool (u8 is
// accepted as nonzero = true, PyTorch's deprecated form).
#include "core/autograd/node.h"
#include "core/ops/factory.h"
#include "core/ops/pointwise_helpers.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

enum class Cmp { eq, ne, lt, le, gt, ge };

const char* cmp_name(Cmp op) {
  switch (op) {
    case Cmp::eq: return "eq";
    case Cmp::ne: return "ne";
    case Cmp::lt: return "lt";
    case Cmp::le: return "le";
    case Cmp::gt: return "gt";
    case Cmp::ge: return "ge";
  }
  return "?";
}

template <Cmp op, typename A>
bool compare_values(A a, A b) {
  if constexpr (op == Cmp::eq) return a == b;
  else if constexpr (op == Cmp::ne) return a != b;
  else if constexpr (op == Cmp::lt) return a < b;
  else if constexpr (op == Cmp::le) return a <= b;
  else if constexpr (op == Cmp::gt) return a > b;
  else return a >= b;
}

template <Cmp op>
Tensor compare(const Tensor& a, const Tensor& b) {
  const DType type = promote_types(a.dtype(), b.dtype());
  const Tensor x = a.detach().to(type);
  const Tensor y = b.detach().to(type);
  Tensor out = empty(broadcast_shapes(a.shape(), b.shape()), {.dtype = DType::boolean});
  dispatch_all(type, cmp_name(op), [&]<typename T>() {
    detail::binary_kernel<bool, T, T>(out, x, y, [](T p, T q) {
      return compare_values<op>(static_cast<acc_t<T>>(p), static_cast<acc_t<T>>(q));
    });
  });
  return out;
}

// A number as a 0-d tensor of the dtype the comparison happens in.
Tensor scalar_like(const Tensor& t, double value) {
  return scalar_tensor(value, {.dtype = detail::scalar_result_type(t.dtype(), {value})});
}

// A condition or mask as bool; `op` and `what` name it in the error.
Tensor as_condition(const Tensor& c, const char* op, const char* what) {
  TESSERA_CHECK(c.dtype() == DType::boolean || c.dtype() == DType::u8, op, ": expected a bool ", what, ", got ",
                dtype_name(c.dtype()), " (shape ", shape_str(c.shape()), ")");
  return c.detach().to(DType::boolean);
}

// grad where `keep` says so (cond == keep_when), else 0; summed down to `shape` (broadcast inputs).
Tensor select_grad(const Tensor& grad, const Tensor& cond, bool keep_when, const Shape& shape) {
  Tensor out = empty(grad.shape(), {.dtype = grad.dtype()});
  dispatch_floating(grad.dtype(), "where_backward", [&]<typename T>() {
    detail::binary_kernel<T, bool, T>(out, cond, grad,
                                      [keep_when](bool c, T g) { return c == keep_when ? g : T(0.0f); });
  });
  return sum_to(out, shape);
}

}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare<Cmp::eq>(a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare<Cmp::ne>(a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare<Cmp::lt>(a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare<Cmp::le>(a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare<Cmp::gt>(a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare<Cmp::ge>(a, b); }
Tensor eq(const Tensor& a, double b) { return compare<Cmp::eq>(a, scalar_like(a, b)); }
Tensor gt(const Tensor& a, double b) { return compare<Cmp::gt>(a, scalar_like(a, b)); }
Tensor lt(const Tensor& a, double b) { return compare<Cmp::lt>(a, scalar_like(a, b)); }

Tensor logical_not(const Tensor& x) {
  Tensor out = empty(x.shape(), {.dtype = DType::boolean});
  dispatch_all(x.dtype(), "logical_not", [&]<typename T>() {
    detail::unary_kernel<bool, T>(out, x, [](T v) { return static_cast<acc_t<T>>(v) == acc_t<T>(0); });
  });
  return out;
}

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  const Tensor cond = as_condition(condition, "where", "condition");
  const DType type = promote_types(a.dtype(), b.dtype());
  // Computed and recorded on the converted operands: their ToCopyBackward nodes restore each input's dtype.
  const Tensor x = a.to(type);
  const Tensor y = b.to(type);
  Tensor out = empty(broadcast_shapes(cond.shape(), broadcast_shapes(a.shape(), b.shape())), {.dtype = type});
  dispatch_all(type, "where", [&]<typename T>() {
    detail::ternary_kernel<T, bool, T, T>(out, cond, x, y, [](bool c, T p, T q) { return c ? p : q; });
  });
  autograd::record("WhereBackward", {x, y}, {out}, {cond}, [](const Grads& g, const Grads& s, const Node& n) {
    return Grads{n.needs_input_grad(0) ? select_grad(g[0], s[0], true, n.input_meta[0].shape) : Tensor(),
                 n.needs_input_grad(1) ? select_grad(g[0], s[0], false, n.input_meta[1].shape) : Tensor()};
  });
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  const Tensor m = as_condition(mask, "masked_fill", "mask");
  Tensor out = empty(broadcast_shapes(x.shape(), m.shape()), {.dtype = x.dtype()});
  dispatch_all(x.dtype(), "masked_fill", [&]<typename T>() {
    const T fill = std::is_same_v<T, bool> ? T(value != 0.0) : static_cast<T>(static_cast<acc_t<T>>(value));
    detail::binary_kernel<T, T, bool>(out, x, m, [fill](T v, bool c) { return c ? fill : v; });
  });
  autograd::record("MaskedFillBackward", {x}, {out}, {m}, [](const Grads& g, const Grads& s, const Node& n) {
    return Grads{select_grad(g[0], s[0], false, n.input_meta[0].shape)};
  });
  return out;
}

}  // namespace tessera
