#pragma once
// Internal helpers for elementwise op implementations: broadcasting operands into an output and running a typed
// lambda over them with the strided loop of kernels/cpu. Not part of the public API.
#include <array>

#include "core/ops/pointwise.h"
#include "core/tensor.h"
#include "kernels/cpu/strided_loop.h"

namespace tessera::detail {

// Byte strides of `t` viewed as broadcast to `shape` (0 along broadcast dims). Requires broadcastability.
std::vector<int64_t> broadcast_byte_strides(const Tensor& t, const Shape& shape);

template <size_t K>
kernels::cpu::StridedOperands<K> operands(const Tensor& out, const std::array<const Tensor*, K - 1>& inputs) {
  kernels::cpu::StridedOperands<K> ops;
  ops.shape = out.shape();
  ops.byte_strides[0] = broadcast_byte_strides(out, out.shape());
  ops.data[0] = static_cast<char*>(out.raw_data());
  for (size_t k = 1; k < K; ++k) {
    ops.byte_strides[k] = broadcast_byte_strides(*inputs[k - 1], out.shape());
    ops.data[k] = static_cast<char*>(inputs[k - 1]->raw_data());
  }
  return ops;
}

// out[i] = f(in[i]); `in` broadcasts to out's shape. TOut/TIn must match the tensors' dtypes.
template <typename TOut, typename TIn, typename F>
void unary_kernel(const Tensor& out, const Tensor& in, F f) {
  kernels::cpu::strided_for_each<2>(operands<2>(out, {&in}), [&](std::array<char*, 2> p, std::array<int64_t, 2> s,
                                                                 int64_t n) {
    if (s[0] == sizeof(TOut) && s[1] == sizeof(TIn)) {
      TOut* o = reinterpret_cast<TOut*>(p[0]);
      const TIn* x = reinterpret_cast<const TIn*>(p[1]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<TOut*>(p[0] + i * s[0]) = f(*reinterpret_cast<const TIn*>(p[1] + i * s[1]));
    }
  });
}

// out[i] = f(a[i], b[i]) with broadcasting; fast paths for contiguous rows and a broadcast scalar b or a.
template <typename TOut, typename TA, typename TB, typename F>
void binary_kernel(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  kernels::cpu::strided_for_each<3>(operands<3>(out, {&a, &b}), [&](std::array<char*, 3> p, std::array<int64_t, 3> s,
                                                                    int64_t n) {
    TOut* o = reinterpret_cast<TOut*>(p[0]);
    const TA* x = reinterpret_cast<const TA*>(p[1]);
    const TB* y = reinterpret_cast<const TB*>(p[2]);
    if (s[0] == sizeof(TOut) && s[1] == sizeof(TA) && s[2] == sizeof(TB)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (s[0] == sizeof(TOut) && s[1] == sizeof(TA) && s[2] == 0) {
      const TB yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (s[0] == sizeof(TOut) && s[1] == 0 && s[2] == sizeof(TB)) {
      const TA xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<TOut*>(p[0] + i * s[0]) = f(*reinterpret_cast<const TA*>(p[1] + i * s[1]),
                                                      *reinterpret_cast<const TB*>(p[2] + i * s[2]));
    }
  });
}

// out[i] = f(a[i], b[i], c[i]) with broadcasting (where, addcmul-like ops).
template <typename TOut, typename TA, typename TB, typename TC, typename F>
void ternary_kernel(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c, F f) {
  kernels::cpu::strided_for_each<4>(operands<4>(out, {&a, &b, &c}), [&](std::array<char*, 4> p,
                                                                        std::array<int64_t, 4> s, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<TOut*>(p[0] + i * s[0]) = f(*reinterpret_cast<const TA*>(p[1] + i * s[1]),
                                                    *reinterpret_cast<const TB*>(p[2] + i * s[2]),
                                                    *reinterpret_cast<const TC*>(p[3] + i * s[3]));
  });
}

// out = a + alpha * b and out = a * b in out's dtype, with broadcasting; out may alias a (in-place ops).
void add_into(const Tensor& out, const Tensor& a, const Tensor& b, double alpha = 1.0);
void mul_into(const Tensor& out, const Tensor& a, const Tensor& b);

// The dtype a floating op computes in for an input of `dtype` (integers become the default float).
inline DType float_result_type(DType dtype) { return is_floating(dtype) ? dtype : default_float(); }

// Applies a floating unary function elementwise: y = f(x) computed in acc_t<T>, returned as a new tensor of the
// input's floating type. `op` names the op in errors. f is a generic lambda taking and returning acc_t<T>.
template <typename F>
Tensor map_floating(const Tensor& x, const char* op, F f) {
  Tensor in = x.to(float_result_type(x.dtype()));
  Tensor out = empty(in.shape(), {.dtype = in.dtype()});
  dispatch_floating(in.dtype(), op, [&]<typename T>() {
    unary_kernel<T, T>(out, in, [&](T v) { return T(f(static_cast<acc_t<T>>(v))); });
  });
  return out;
}

}  // namespace tessera::detail
