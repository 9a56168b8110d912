#pragma once
// Branch-free f32 math that GCC and Clang auto-vectorise (no libm call inside the loop), for the activations on
// the training hot path (sigmoid, tanh, gelu-tanh) and for anyone else who needs a fast expf (softmax).
// Invariants:
//  - exp_f32 is Cephes' expf: a degree-6 polynomial on [-ln2/2, ln2/2] and an exact 2^n scaling, within ~1 ulp
//    of expf over the whole range; it overflows to +inf above ~88.72, underflows gradually to 0 below ~-87.3
//    (denormals included, as expf) and propagates NaN. No float->int conversion: n is read from the bits of a
//    magic-number rounding, so NaN and infinities have no undefined behaviour.
//  - every choice is a bitwise select (select_f32), never `c ? a : b` on computed floats: under the default
//    -ftrapping-math GCC will not if-convert a branch that holds float arithmetic, and the loop stays scalar.
//  - sigmoid_f32 and tanh_f32 only ever call exp_f32 on non-positive arguments (no overflow) and avoid
//    cancellation near 0 (tanh uses Cephes' odd polynomial for |x| < 0.625): both within ~2 ulp.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

// Forced inlining: in a translation unit with many kernel instantiations GCC stops inlining these on its own,
// and an out-of-line call in the loop body stops it from vectorising (a 20x slowdown).
#define TESSERA_VEC_INLINE inline __attribute__((always_inline))

namespace tessera::detail {

// c ? a : b without a branch (both sides are already computed).
TESSERA_VEC_INLINE float select_f32(bool c, float a, float b) {
  const uint32_t mask = 0u - static_cast<uint32_t>(c);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(a) & mask) | (std::bit_cast<uint32_t>(b) & ~mask));
}

TESSERA_VEC_INLINE float exp_f32(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;       // ln2 split in two: n * kLn2Hi is exact for |n| < 2^9
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;        // 1.5 * 2^23: adding it rounds to an integer held in the low bits
  x = select_f32(x < -105.0f, -105.0f, x);  // beyond these bounds the result is 0 or inf anyway; NaN stays
  x = select_f32(x > 88.8f, 88.8f, x);
  const float shifted = x * kLog2e + kRound;
  const float n = shifted - kRound;
  const int32_t k = static_cast<int32_t>(std::bit_cast<uint32_t>(shifted) - std::bit_cast<uint32_t>(kRound));
  float r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^k as two factors, so that k in [-152, 128] needs no denormal or infinite exponent field.
  const int32_t k1 = k >> 1;
  const int32_t k2 = k - k1;
  const float s1 = std::bit_cast<float>(static_cast<uint32_t>(k1 + 127) << 23);
  const float s2 = std::bit_cast<float>(static_cast<uint32_t>(k2 + 127) << 23);
  return p * s1 * s2;
}

TESSERA_VEC_INLINE float sigmoid_f32(float x) {
  const float e = exp_f32(-std::abs(x));  // in (0, 1]
  const float r = 1.0f / (1.0f + e);
  return select_f32(x >= 0.0f, r, e * r);
}

TESSERA_VEC_INLINE float tanh_f32(float x) {
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = x + x * z * p;
  const float e = exp_f32(-2.0f * std::abs(x));
  const float large = std::copysign((1.0f - e) / (1.0f + e), x);
  return select_f32(std::abs(x) < 0.625f, small, large);
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

}  // namespace tessera::detail
