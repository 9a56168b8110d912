#pragma once
// Element types (the lowest layer's, so kernels and core share them; C++17 for CUDA). bf16 and f16 are storage types: arithmetic on them happens in f32 (acc_t), and results are
// rounded back (round-to-nearest-even), as PyTorch does on CPU.
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/common/check.h"

namespace tessera {

enum class DType : uint8_t { f32, f64, bf16, f16, i32, i64, u8, boolean };

struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  bf16(float value) {  // NOLINT(google-explicit-constructor): behaves like a number
    uint32_t u;
    std::memcpy(&u, &value, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN stays NaN
      bits = static_cast<uint16_t>((u >> 16) | 0x40);
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);
      bits = static_cast<uint16_t>(u >> 16);
    }
  }
  operator float() const {  // NOLINT(google-explicit-constructor)
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

struct f16 {
  uint16_t bits = 0;
  f16() = default;
  f16(float value) : bits(float_to_half(value)) {}  // NOLINT(google-explicit-constructor)
  operator float() const { return half_to_float(bits); }  // NOLINT(google-explicit-constructor)
  static uint16_t float_to_half(float value);
  static float half_to_float(uint16_t bits);
};

// The type arithmetic on T is carried out in.
template <typename T> struct acc_type { using type = T; };
template <> struct acc_type<bf16> { using type = float; };
template <> struct acc_type<f16> { using type = float; };
template <typename T> using acc_t = typename acc_type<T>::type;

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
