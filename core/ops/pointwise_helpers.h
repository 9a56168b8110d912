#pragma once
// Internal helpers shared by the pointwise op files (unary, activation, pow, compare). Not part of the public API.
//  - unary_map / map_numeric / backward_map: elementwise forward and the fused backward most unary ops need,
//    grad_in = f(grad_out, saved), in one pass and one allocation instead of a chain of temporaries. Contiguous f32
//    operands (the training hot path) take plain-pointer loops split over threads: they vectorise whatever GCC
//    decides about inlining inside the generic strided kernels (which, in a unit this size, it sometimes does not:
//    a 20x loss). Lambdas passed in should be TESSERA_INLINE_LAMBDA for the same reason.
//  - scalar_result_type: PyTorch's dtype for `tensor (op) number` (a wrapped number never widens a tensor of its
//    own category). A double holding an integral value counts as an integer, as in the arithmetic ops.
#include <initializer_list>

#include "core/ops/elementwise.h"
#include "kernels/cpu/parallel.h"

#define TESSERA_INLINE_LAMBDA __attribute__((always_inline))

namespace tessera::detail {

constexpr int64_t kF32Grain = 32768;  // elements per thread chunk

inline bool contiguous_f32(const Tensor& t) { return t.dtype() == DType::f32 && t.is_contiguous(); }

template <typename F>
void f32_unary_loop(const float* __restrict x, float* __restrict y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <typename F>
void f32_binary_loop(const float* __restrict a, const float* __restrict b, float* __restrict y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
}

template <typename F>
Tensor f32_unary_contiguous(const Tensor& x, F f) {
  Tensor out = empty(x.shape(), {.dtype = DType::f32});
  const float* xp = x.data_ptr<float>();
  float* yp = out.data_ptr<float>();
  kernels::cpu::parallel_for(x.numel(), kF32Grain, [&](int64_t b, int64_t e) {
    f32_unary_loop(xp + b, yp + b, e - b, f);
  });
  return out;
}

// map_floating (integers compute in the default float type) with the contiguous f32 fast path.
template <typename F>
Tensor unary_map(const Tensor& x, const char* op, F f) {
  if (contiguous_f32(x)) return f32_unary_contiguous(x, f);
  return map_floating(x, op, f);
}

// grad_in[i] = f(grad[i], saved[i]), computed in acc_t of saved's floating dtype and returned in that dtype.
// f takes and returns acc_t<T>. grad and saved have the output's shape.
template <typename F>
Tensor backward_map(const Tensor& grad, const Tensor& saved, const char* op, F f) {
  const Tensor g = grad.to(saved.dtype());
  Tensor out = empty(saved.shape(), {.dtype = saved.dtype()});
  if (contiguous_f32(g) && contiguous_f32(saved) && g.shape() == saved.shape()) {
    const float* gp = g.data_ptr<float>();
    const float* sp = saved.data_ptr<float>();
    float* o = out.data_ptr<float>();
    kernels::cpu::parallel_for(out.numel(), kF32Grain, [&](int64_t b, int64_t e) {
      f32_binary_loop(gp + b, sp + b, o + b, e - b, f);
    });
    return out;
  }
  dispatch_floating(saved.dtype(), op, [&]<typename T>() {
    using A = acc_t<T>;
    binary_kernel<T, T, T>(out, g, saved, [&](T gv, T sv) { return T(f(A(gv), A(sv))); });
  });
  return out;
}

// y = f(x) elementwise in x's own dtype (integers stay integers: abs, relu), computed in acc_t. Not for bool.
template <typename F>
Tensor map_numeric(const Tensor& x, const char* op, F f) {
  if (contiguous_f32(x)) return f32_unary_contiguous(x, f);
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
