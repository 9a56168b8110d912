#pragma once
// Internal to kernels/cpu: the typed loops behind the elementwise entries. An entry's StridedArgs become byte
// strides over host addresses (strided_loop.h coalesces dims and splits rows over threads); the innermost loop
// is a plain pointer loop when every operand is contiguous there (it vectorises), with fast paths for a broadcast
// scalar operand, and a strided loop otherwise. Functors come from kernels/elementwise_ops.h.
#include <array>
#include <cstddef>

#include "kernels/common/check.h"
#include "kernels/elementwise_args.h"
#include "kernels/cpu/strided_loop.h"

namespace tessera::kernels::cpu {

template <size_t K>
StridedOperands<K> strided_operands(const LoopShape& loop, const std::array<const StridedArg*, K>& args,
                                    std::ptrdiff_t host_offset) {
  StridedOperands<K> ops;
  ops.shape.assign(loop.sizes, loop.sizes + loop.ndim);
  for (size_t k = 0; k < K; ++k) {
    const int64_t elem = static_cast<int64_t>(element_size(args[k]->dtype));
    ops.byte_strides[k].resize(loop.ndim);
    for (int d = 0; d < loop.ndim; ++d) ops.byte_strides[k][d] = args[k]->strides[d] * elem;
    ops.data[k] = static_cast<char*>(args[k]->data) + host_offset;
  }
  return ops;
}

// Checks that an operand has the dtype an op's loop is instantiated for; `what` names the entry.
inline void expect_dtype(const StridedArg& arg, DType dtype, const char* what, const char* role) {
  TESSERA_CHECK(arg.dtype == dtype, what, ": ", role, " is ", dtype_name(arg.dtype), ", expected ",
                dtype_name(dtype));
}

// out[i] = f(in[i]).
template <typename TOut, typename TIn, typename F>
void unary_loop(const StridedOperands<2>& ops, const F f) {
  strided_for_each<2>(ops, [&](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
    if (s[0] == sizeof(TOut) && s[1] == sizeof(TIn)) {
      TOut* __restrict o = reinterpret_cast<TOut*>(p[0]);
      const TIn* __restrict x = reinterpret_cast<const TIn*>(p[1]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
    } else if (s[0] == sizeof(TOut) && s[1] == 0) {
      const TOut v = f(*reinterpret_cast<const TIn*>(p[1]));
      TOut* __restrict o = reinterpret_cast<TOut*>(p[0]);
      for (int64_t i = 0; i < n; ++i) o[i] = v;
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<TOut*>(p[0] + i * s[0]) = f(*reinterpret_cast<const TIn*>(p[1] + i * s[1]));
    }
  });
}

// out[i] = f(a[i], b[i]); out may alias a (in-place ops): each element is read before it is written.
template <typename TOut, typename TA, typename TB, typename F>
void binary_loop(const StridedOperands<3>& ops, const F f) {
  strided_for_each<3>(ops, [&](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
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

// out[i] = f(a[i], b[i], c[i]).
template <typename TOut, typename TA, typename TB, typename TC, typename F>
void ternary_loop(const StridedOperands<4>& ops, const F f) {
  strided_for_each<4>(ops, [&](std::array<char*, 4> p, std::array<int64_t, 4> s, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<TOut*>(p[0] + i * s[0]) = f(*reinterpret_cast<const TA*>(p[1] + i * s[1]),
                                                    *reinterpret_cast<const TB*>(p[2] + i * s[2]),
                                                    *reinterpret_cast<const TC*>(p[3] + i * s[3]));
  });
}

}  // namespace tessera::kernels::cpu
