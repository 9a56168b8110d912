#pragma once
// Element types (the lowest layer's, so kernels and core share them; C++17 for CUDA). bf16 and f16 are storage types: arithmetic on them happens in f32 (acc_t), and results are
// rounded back (round-to-nearest-even), as PyTorch does on CPU.
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "kernels/common/check.h"
#include "kernels/common/host_device.h"

namespace tessera {

// Reinterprets the bytes of a value (std::bit_cast, also in CUDA device code, where memcpy is a builtin).
template <typename To, typename From>
TESSERA_HD_INLINE To bit_cast_value(const From& from) {
  static_assert(sizeof(To) == sizeof(From));
  To to;
  memcpy(&to, &from, sizeof(To));
  return to;
}

enum class DType : uint8_t { f32, f64, bf16, f16, i32, i64, u8, boolean };

// The conversions are host-device and bit-exact software, so a GPU rounds exactly as the CPU does.
struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  TESSERA_HD_INLINE bf16(float value) {  // NOLINT(google-explicit-constructor): behaves like a number
    uint32_t u = bit_cast_value<uint32_t>(value);
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN stays NaN
      bits = static_cast<uint16_t>((u >> 16) | 0x40);
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);
      bits = static_cast<uint16_t>(u >> 16);
    }
  }
  TESSERA_HD_INLINE operator float() const {  // NOLINT(google-explicit-constructor)
    return bit_cast_value<float>(static_cast<uint32_t>(bits) << 16);
  }
};

struct f16 {
  uint16_t bits = 0;
  f16() = default;
  TESSERA_HD_INLINE f16(float value) : bits(float_to_half(value)) {}  // NOLINT(google-explicit-constructor)
  TESSERA_HD_INLINE operator float() const { return half_to_float(bits); }  // NOLINT(google-explicit-constructor)

  // Round-to-nearest-even conversion of IEEE binary32 to binary16, with subnormals, inf and NaN.
  static TESSERA_HD_INLINE uint16_t float_to_half(float value) {
    const uint32_t u = bit_cast_value<uint32_t>(value);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow to inf
    if (abs < 0x38800000u) {  // subnormal half (or zero)
      const float magic = bit_cast_value<float>(0x3f000000u);  // 0.5: adds so the FPU rounds for us
      const float rounded = bit_cast_value<float>(abs) + magic;
      return static_cast<uint16_t>(sign | (bit_cast_value<uint32_t>(rounded) - 0x3f000000u));
    }
    const uint32_t mantissa_odd = (abs >> 13) & 1u;
    const uint32_t biased = abs + 0xc8000fffu + mantissa_odd;  // rebias exponent (-112 << 23) and round
    return static_cast<uint16_t>(sign | (biased >> 13));
  }

  static TESSERA_HD_INLINE float half_to_float(uint16_t bits) {
    const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
    const uint32_t exponent = (bits >> 10) & 0x1fu;
    const uint32_t mantissa = bits & 0x3ffu;
    if (exponent == 0x1f) return bit_cast_value<float>(sign | 0x7f800000u | (mantissa << 13));
    if (exponent == 0) {
      const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;  // 2^-24
      return sign ? -magnitude : magnitude;
    }
    return bit_cast_value<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  }
};

// The type arithmetic on T is carried out in.
template <typename T> struct acc_type { using type = T; };
template <> struct acc_type<bf16> { using type = float; };
template <> struct acc_type<f16> { using type = float; };
template <typename T> using acc_t = typename acc_type<T>::type;

// The type A's arithmetic wraps in: overflow of a signed integer is undefined in C++, its unsigned twin's wraps
// (two's complement, as PyTorch's integer add, sub and mul); other types compute as themselves.
template <typename A, bool = std::is_integral_v<A> && std::is_signed_v<A>>
struct wrapping {
  using type = A;
};
template <typename A>
struct wrapping<A, true> {
  using type = std::make_unsigned_t<A>;
};
template <typename A>
using wrapping_t = typename wrapping<A>::type;

// The type sums of T accumulate in, on every backend: f64 for floating types; u64 for integers, which wrap as
// PyTorch's i64 sums do.
template <typename T>
using sum_acc_t = std::conditional_t<std::is_integral_v<T>, uint64_t, double>;

size_t element_size(DType dtype);
const char* dtype_name(DType dtype);
bool is_floating(DType dtype);  // f32, f64, bf16, f16
bool is_integral(DType dtype);  // i32, i64, u8, bool

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<bf16>() { return DType::bf16; }
template <> constexpr DType dtype_of<f16>() { return DType::f16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<bool>() { return DType::boolean; }

// Calls f.template operator()<T>() with T the C++ type of `dtype`. `op` names the caller in the error.
template <typename F>
decltype(auto) dispatch_all(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32: return f.template operator()<float>();
    case DType::f64: return f.template operator()<double>();
    case DType::bf16: return f.template operator()<bf16>();
    case DType::f16: return f.template operator()<f16>();
    case DType::i32: return f.template operator()<int32_t>();
    case DType::i64: return f.template operator()<int64_t>();
    case DType::u8: return f.template operator()<uint8_t>();
    case DType::boolean: return f.template operator()<bool>();
  }
  TESSERA_THROW(op, ": unknown dtype");
}

// Floating types only (f32, f64, bf16, f16).
template <typename F>
decltype(auto) dispatch_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32: return f.template operator()<float>();
    case DType::f64: return f.template operator()<double>();
    case DType::bf16: return f.template operator()<bf16>();
    case DType::f16: return f.template operator()<f16>();
    default: TESSERA_THROW(op, ": expected a floating dtype, got ", dtype_name(dtype));
  }
}

// Types that take part in arithmetic: everything but bool.
template <typename F>
decltype(auto) dispatch_numeric(DType dtype, const char* op, F&& f) {
  TESSERA_CHECK(dtype != DType::boolean, op, ": not defined for bool tensors");
  return dispatch_all(dtype, op, std::forward<F>(f));
}

}  // namespace tessera
