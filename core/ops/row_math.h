#pragma once
// Internal: per-row math for softmax and cross_entropy, fast on short f32 rows (C = 10 is the training hot path).
// Invariants:
//  - the f32 path is written with explicit 8-float vectors (GCC/Clang vector extension: one AVX register under
//    -march=native, two SSE halves otherwise). A row is whole vectors plus one padded tail vector (an AVX2 masked
//    load/store; a memcpy through a buffer without AVX2) filled with a neutral value: -inf for max/exp, 0 for sums;
//  - exp8 is Cephes' expf: round-to-nearest range reduction with a split ln 2 and a degree-6 polynomial, max
//    relative error about 1e-7 (1 ulp); exp(-inf) = 0 exactly, results below 2.6e-38 (x < -86.5) flush to 0
//    (harmless next to a softmax denominator >= 1), exp(x > 88.72) = inf, NaN stays NaN. A scalar version is not
//    vectorised by the compiler (it will not if-convert the range clamps under the default -ftrapping-math);
//  - vectors are passed by reference only, so no vector crosses a call boundary whose ABI depends on AVX;
//  - f64 (the accuracy reference, not the hot path) uses plain loops and std::exp;
//  - sums use 8 partial lanes, so they differ from a left-to-right sum by rounding only.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tessera::detail {

using f32x8 = float __attribute__((vector_size(32)));
using i32x8 = int32_t __attribute__((vector_size(32)));

// v = exp(v), elementwise.
inline void exp8(f32x8& v) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;  // kLn2Hi * n is exact for |n| <= 2^15
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const f32x8 x = v;
  const f32x8 low = f32x8{} + -86.5f, high = f32x8{} + 88.72283f;
  f32x8 xc = x > low ? x : low;  // NaN compares false: xc is never NaN
  xc = xc < high ? xc : high;
  const f32x8 n = (xc * kLog2e + kRound) - kRound;  // in [-125, 128]
  const f32x8 r = (xc - n * kLn2Hi) - n * kLn2Lo;
  f32x8 p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  // p * 2^n computed as (p * 2^(n-1)) * 2, so n = 128 (x just below the overflow threshold) stays finite.
  const i32x8 bits = (__builtin_convertvector(n, i32x8) + 126) << 23;
  f32x8 half_scale;
  std::memcpy(&half_scale, &bits, sizeof(bits));
  f32x8 y = p * half_scale * 2.0f;
  y = x > high ? f32x8{} + std::numeric_limits<float>::infinity() : y;
  y = x < low ? f32x8{} : y;
  v = x != x ? x : y;
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
