#pragma once
// Vectorised f32 math on buffers: the one exp (and sigmoid/tanh/erf built on it) for the pointwise ops, and the
// per-row passes (max, exp, sum, dot) that softmax and cross_entropy run on short rows (C = 10 is the hot path).
// Invariants:
//  - exp_core is the only exp: Cephes' expf (round-to-nearest range reduction with a split ln 2, a degree-6
//    polynomial on [-ln2/2, ln2/2], 2^n applied as two exact factors). Within ~1 ulp of expf over the whole range;
//    overflows to +inf above ~88.72, underflows gradually to 0 below ~-87.3 (denormals included, as expf; exp(-inf)
//    is exactly 0) and propagates NaN. Max error 0.995 ulp on normal results (measured against f64). It is one
//    template instantiated for a scalar float (exp_f32, which GCC/Clang auto-vectorise in a plain loop) and for an
//    explicit 8-float vector (exp8, for the row passes).
//    No float->int conversion: n is read from the bits of a magic-number rounding, so NaN and infinities have no
//    undefined behaviour.
//  - every choice on computed floats is a bitwise/vector select, never `c ? a : b` on scalars: under the default
//    -ftrapping-math GCC will not if-convert a branch that holds float arithmetic, and the loop stays scalar.
//  - sigmoid_f32 and tanh_f32 only ever call exp_f32 on non-positive arguments (no overflow) and avoid
//    cancellation near 0 (tanh uses Cephes' odd polynomial for |x| < 0.625): tanh within 2 ulp, sigmoid within 2.6.
//  - f32x8 is a GCC/Clang vector extension (one AVX register under -march=native, two SSE halves otherwise). A row
//    is whole vectors plus one padded tail vector (an AVX2 masked load/store; a memcpy through a buffer without
//    AVX2) filled with a neutral value: -inf for max/exp, 0 for sums. Vectors are passed by reference only, so no
//    vector crosses a call boundary whose ABI depends on AVX. Row sums use 8 partial lanes, so they differ from a
//    left-to-right sum by rounding only.
//  - f64 (the accuracy reference, not the hot path) uses plain loops and <cmath>.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

// Forced inlining: in a translation unit with many kernel instantiations GCC stops inlining these on its own,
// and an out-of-line call in the loop body stops it from vectorising (a 20x slowdown).
#define TESSERA_VEC_INLINE inline __attribute__((always_inline))

namespace tessera::detail {

using f32x8 = float __attribute__((vector_size(32)));
using i32x8 = int32_t __attribute__((vector_size(32)));
using u32x8 = uint32_t __attribute__((vector_size(32)));

// c ? a : b without a branch (both sides are already computed).
TESSERA_VEC_INLINE float select_f32(bool c, float a, float b) {
  const uint32_t mask = 0u - static_cast<uint32_t>(c);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(a) & mask) | (std::bit_cast<uint32_t>(b) & ~mask));
}

// v = mask ? a : v, for a scalar (bool mask) or a vector (lane mask from a vector comparison).
TESSERA_VEC_INLINE void blend(float& v, bool mask, float a) { v = select_f32(mask, a, v); }
TESSERA_VEC_INLINE void blend(f32x8& v, const i32x8& mask, const f32x8& a) { v = mask ? a : v; }

// x = exp(x) for F = float or f32x8 (U, I: the matching unsigned and signed 32-bit integer types).
template <typename F, typename U, typename I>
TESSERA_VEC_INLINE void exp_core(F& x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;  // ln2 split in two: n * kLn2Hi is exact for |n| < 2^9
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;   // 1.5 * 2^23: adding it rounds to an integer held in the low bits
  const F lo = F{} + -105.0f, hi = F{} + 88.8f;  // beyond these the result is 0 or inf anyway; NaN stays NaN
  blend(x, x < lo, lo);
  blend(x, x > hi, hi);
  const F shifted = x * kLog2e + kRound;
  const F n = shifted - kRound;
  const I k = std::bit_cast<I>(std::bit_cast<U>(shifted) - std::bit_cast<U>(kRound + F{}));
  F r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  F p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  // 2^k as two factors, so that k in [-152, 128] needs no denormal or infinite exponent field.
  const I k1 = k >> 1;
  const I k2 = k - k1;
  const F s1 = std::bit_cast<F>(std::bit_cast<U>(k1 + 127) << 23);
  const F s2 = std::bit_cast<F>(std::bit_cast<U>(k2 + 127) << 23);
  x = p * s1 * s2;
}

TESSERA_VEC_INLINE float exp_f32(float x) {
  exp_core<float, uint32_t, int32_t>(x);
  return x;
}
// v = exp(v), elementwise.
TESSERA_VEC_INLINE void exp8(f32x8& v) { exp_core<f32x8, u32x8, i32x8>(v); }

TESSERA_VEC_INLINE float sigmoid_f32(float x) {
  const float e = exp_f32(-std::abs(x));  // in (0, 1]
  const float r = 1.0f / (1.0f + e);
  return select_f32(x >= 0.0f, r, e * r);
}

// c0 + x (c1 + x (c2 + ...)), the coefficients from the constant term up (Horner's scheme).
template <typename... Rest>
TESSERA_VEC_INLINE float horner(float x, float c0, Rest... rest) {
  if constexpr (sizeof...(rest) == 0) return c0;
  else return horner(x, rest...) * x + c0;
}

TESSERA_VEC_INLINE float tanh_f32(float x) {
  const float z = x * x;
  const float p = horner(z, -3.33332819422e-1f, 1.33314422036e-1f, -5.37397155531e-2f, 2.06390887954e-2f,
                         -5.70498872745e-3f);
  const float small = x + x * z * p;
  const float e = exp_f32(-2.0f * std::abs(x));
  const float large = std::copysign((1.0f - e) / (1.0f + e), x);
  return select_f32(std::abs(x) < 0.625f, small, large);
}

// erf, branch-free so a loop over it vectorises (libm's erff is a call per element: a third of an MLP step with GELU).
// Norbert Juffa's minimax fit: x + x P(x^2) below 0.927734375; above, 1 - exp(a Q(a) - a) with a = |x|, its sign
// put back; 1 from 4 on, where erf rounds to 1 in f32. Both forms are computed and one chosen. Within 2 ulp with
// this file's exp (test_cpu_vec_math.cpp); NaN propagates and erf(+-inf) = +-1.
TESSERA_VEC_INLINE float erf_f32(float x) {
  const float p = horner(x * x, 1.28379166e-1f, -3.76125336e-1f, 1.12819925e-1f, -2.67681349e-2f, 4.99119423e-3f,
                         -5.96761703e-4f);
  const float small = x + x * p;
  const float a = std::abs(x);
  const float q = horner(a, -1.28717512e-1f, -6.34846687e-1f, -1.06777877e-1f, 2.42546219e-2f, -3.88396438e-3f,
                         3.83197126e-4f, -1.72853470e-5f);
  const float large = std::copysign(1.0f - exp_f32(q * a - a), x);
  return select_f32(a >= 4.0f, std::copysign(1.0f, x), select_f32(a < 0.927734375f, small, large));
}

// Generic forms: the vectorisable f32 versions for float (and so for bf16/f16, whose acc_t is float), <cmath>
// for double.
template <typename A> TESSERA_VEC_INLINE A exp_value(A x) {
  if constexpr (std::is_same_v<A, float>) return exp_f32(x);
  else return std::exp(x);
}
template <typename A> TESSERA_VEC_INLINE A sigmoid_value(A x) {
  if constexpr (std::is_same_v<A, float>) return sigmoid_f32(x);
  else return A(1) / (A(1) + std::exp(-x));
}
template <typename A> TESSERA_VEC_INLINE A tanh_value(A x) {
  if constexpr (std::is_same_v<A, float>) return tanh_f32(x);
  else return std::tanh(x);
}
template <typename A> TESSERA_VEC_INLINE A erf_value(A x) {
  if constexpr (std::is_same_v<A, float>) return erf_f32(x);
  else return std::erf(x);
}

// --- f32 vector helpers: rows of n floats as n / 8 whole vectors and a tail of n % 8.
inline void load8(f32x8& v, const float* p) { std::memcpy(&v, p, sizeof(v)); }
inline void store8(float* p, const f32x8& v) { std::memcpy(p, &v, sizeof(v)); }
#if defined(__AVX2__)
// Masked loads and stores touch only the first `count` floats (no fault past the row), in one instruction each.
inline __m256i tail_mask(int64_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline void load_tail(f32x8& v, const float* p, int64_t count, float fill) {
  const __m256i mask = tail_mask(count);
  v = _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, mask), _mm256_castsi256_ps(mask));
}
inline void store_tail(float* p, const f32x8& v, int64_t count) { _mm256_maskstore_ps(p, tail_mask(count), v); }
#else
inline void load_tail(f32x8& v, const float* p, int64_t count, float fill) {
  float buffer[8] = {fill, fill, fill, fill, fill, fill, fill, fill};
  std::memcpy(buffer, p, static_cast<size_t>(count) * sizeof(float));
  std::memcpy(&v, buffer, sizeof(v));
}
inline void store_tail(float* p, const f32x8& v, int64_t count) {
  std::memcpy(p, &v, static_cast<size_t>(count) * sizeof(float));
}
#endif
inline float hsum(const f32x8& v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }
inline float hmax(const f32x8& v) {
  float m = v[0];
  for (int j = 1; j < 8; ++j) m = v[j] > m ? v[j] : m;
  return m;
}

// v[k] = exp(v[k]) in place.
inline void exp_inplace(float* v, int64_t n) {
  const int64_t full = n & ~int64_t{7};
  f32x8 x;
  for (int64_t k = 0; k < full; k += 8) {
    load8(x, v + k);
    exp8(x);
    store8(v + k, x);
  }
  if (full < n) {
    load_tail(x, v + full, n - full, 0.0f);
    exp8(x);
    store_tail(v + full, x, n - full);
  }
}
inline void exp_inplace(double* v, int64_t n) {
  for (int64_t k = 0; k < n; ++k) v[k] = std::exp(v[k]);
}

// y = exp(x - max(x)) over one contiguous row; sets mx = max(x) and sum = sum(y). NaN in x gives NaN in sum.
inline void exp_row(const float* x, float* y, int64_t n, float& mx, float& sum) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int64_t full = n & ~int64_t{7}, rest = n - full;
  f32x8 v, tail, vmax = f32x8{} + kNegInf;
  for (int64_t k = 0; k < full; k += 8) {
    load8(v, x + k);
    vmax = v > vmax ? v : vmax;
  }
  load_tail(tail, x + full, rest, kNegInf);
  vmax = tail > vmax ? tail : vmax;
  mx = hmax(vmax);
  f32x8 vsum{};
  for (int64_t k = 0; k < full; k += 8) {
    load8(v, x + k);
    v -= mx;
    exp8(v);
    store8(y + k, v);
    vsum += v;
  }
  if (rest > 0) {
    tail -= mx;  // padding: -inf - mx = -inf, whose exp is 0
    exp8(tail);
    store_tail(y + full, tail, rest);
    vsum += tail;
  }
  sum = hsum(vsum);
}

inline void exp_row(const double* x, double* y, int64_t n, double& mx, double& sum) {
  mx = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < n; ++k) mx = x[k] > mx ? x[k] : mx;
  sum = 0;
  for (int64_t k = 0; k < n; ++k) {
    y[k] = std::exp(x[k] - mx);
    sum += y[k];
  }
}

// y[k] = x[k] * a + b.
inline void scale_shift(const float* x, float* y, int64_t n, float a, float b) {
  const int64_t full = n & ~int64_t{7};
  f32x8 v;
  for (int64_t k = 0; k < full; k += 8) {
    load8(v, x + k);
    store8(y + k, v * a + b);
  }
  for (int64_t k = full; k < n; ++k) y[k] = x[k] * a + b;
}
inline void scale_shift(const double* x, double* y, int64_t n, double a, double b) {
  for (int64_t k = 0; k < n; ++k) y[k] = x[k] * a + b;
}

inline float row_sum(const float* x, int64_t n) {
  const int64_t full = n & ~int64_t{7};
  f32x8 v, acc{};
  for (int64_t k = 0; k < full; k += 8) {
    load8(v, x + k);
    acc += v;
  }
  load_tail(v, x + full, n - full, 0.0f);
  return hsum(acc + v);
}
inline double row_sum(const double* x, int64_t n) {
  double s = 0;
  for (int64_t k = 0; k < n; ++k) s += x[k];
  return s;
}

inline float row_dot(const float* x, const float* y, int64_t n) {
  const int64_t full = n & ~int64_t{7};
  f32x8 a, b, acc{};
  for (int64_t k = 0; k < full; k += 8) {
    load8(a, x + k);
    load8(b, y + k);
    acc += a * b;
  }
  load_tail(a, x + full, n - full, 0.0f);
  load_tail(b, y + full, n - full, 0.0f);
  return hsum(acc + a * b);
}
inline double row_dot(const double* x, const double* y, int64_t n) {
  double s = 0;
  for (int64_t k = 0; k < n; ++k) s += x[k] * y[k];
  return s;
}

}  // namespace tessera::detail
