#pragma once
// Internal helpers shared by the pointwise op files (unary, activation, pow, compare). Not part of the public API.
//  - backward_map: the fused elementwise backward most unary ops need, grad_in = f(grad_out, saved), one pass and
//    one allocation instead of a chain of mul/sub temporaries;
//  - scalar_result_type: PyTorch's dtype for `tensor (op) number` (a wrapped number never widens a tensor of its
//    own category). A double holding an integral value counts as an integer, as in the arithmetic ops.
#include <initializer_list>

#include "core/ops/elementwise.h"

namespace tessera::detail {

// grad_in[i] = f(grad[i], saved[i]), computed in acc_t of saved's floating dtype and returned in that dtype.
// f takes and returns acc_t<T>. grad and saved have the output's shape.
template <typename F>
Tensor backward_map(const Tensor& grad, const Tensor& saved, const char* op, F f) {
  const Tensor g = grad.to(saved.dtype());
  Tensor out = empty(saved.shape(), {.dtype = saved.dtype()});
  dispatch_floating(saved.dtype(), op, [&]<typename T>() {
    using A = acc_t<T>;
    binary_kernel<T, T, T>(out, g, saved, [&](T gv, T sv) { return T(f(A(gv), A(sv))); });
  });
  return out;
}

// y = f(x) elementwise in x's own dtype (integers stay integers: abs, relu), computed in acc_t. Not for bool.
template <typename F>
Tensor map_numeric(const Tensor& x, const char* op, F f) {
  Tensor out = empty(x.shape(), {.dtype = x.dtype()});
  dispatch_numeric(x.dtype(), op, [&]<typename T>() {
    unary_kernel<T, T>(out, x, [&](T v) { return T(f(static_cast<acc_t<T>>(v))); });
  });
  return out;
}

inline bool is_integral_value(double v) { return v == static_cast<double>(static_cast<int64_t>(v)); }

// The dtype of `t (op) scalars...`: t's dtype; an integral or bool tensor meeting a fractional number computes in
// the default float type; a bool tensor meeting numbers computes in i64.
inline DType scalar_result_type(DType tensor, std::initializer_list<double> scalars) {
  if (is_floating(tensor)) return tensor;
  for (double s : scalars)
    if (!is_integral_value(s)) return default_float();
  return tensor == DType::boolean ? DType::i64 : tensor;
}

}  // namespace tessera::detail
