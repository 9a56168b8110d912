#pragma once
// Scalar math the element functors (kernels/elementwise_ops.h) call, one definition per compiler: under nvcc the
// CUDA math library; elsewhere the CPU's vectorisable f32 forms (kernels/cpu/vec_math.h: exp within 1 ulp,
// tanh/erf within 2 ulp, sigmoid 2.6, branch-free selects) and <cmath> for f64. Functors stay device-neutral; only this
// header knows which math a device has.
#include <cmath>
#include <type_traits>

#include "kernels/common/host_device.h"

#if !defined(__CUDACC__)
#include "kernels/cpu/vec_math.h"
#endif

namespace tessera::kernels::math {

#if defined(__CUDACC__)
template <typename A> TESSERA_HD_INLINE A exp(A x) { return ::exp(x); }
template <typename A> TESSERA_HD_INLINE A sigmoid(A x) { return A(1) / (A(1) + ::exp(-x)); }
template <typename A> TESSERA_HD_INLINE A tanh(A x) { return ::tanh(x); }
template <typename A> TESSERA_HD_INLINE A erf(A x) { return ::erf(x); }
template <typename A> TESSERA_HD_INLINE A select(bool c, A a, A b) { return c ? a : b; }
#else
template <typename A> TESSERA_HD_INLINE A exp(A x) { return detail::exp_value(x); }
template <typename A> TESSERA_HD_INLINE A sigmoid(A x) { return detail::sigmoid_value(x); }
template <typename A> TESSERA_HD_INLINE A tanh(A x) { return detail::tanh_value(x); }
template <typename A> TESSERA_HD_INLINE A erf(A x) { return detail::erf_value(x); }
// c ? a : b without a branch for f32, so loops that choose between computed floats vectorise.
template <typename A> TESSERA_HD_INLINE A select(bool c, A a, A b) {
  if constexpr (std::is_same_v<A, float>) return detail::select_f32(c, a, b);
  else return c ? a : b;
}
#endif

using std::abs;
using std::log;
using std::pow;
using std::sqrt;

}  // namespace tessera::kernels::math
