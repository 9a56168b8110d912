#pragma once
// The per-element update rules of the fused optimizer steps, written once for every device (PyTorch 1.13's
// single-tensor SGD, term for term), and the flag dispatch both backends use to make runtime options template
// arguments (a loop per combination, no branch per element). C++17, host-device.
#include <cmath>
#include <cstdint>

#include "kernels/common/check.h"
#include "kernels/common/dtype.h"
#include "kernels/common/host_device.h"

namespace tessera::kernels {

// Calls f.template operator()<B1, B2, ...>() with the runtime flags as template arguments.
template <bool... Bs, typename F>
void with_flags(F&& f) {
  f.template operator()<Bs...>();
}
template <bool... Bs, typename F, typename... Rest>
void with_flags(F&& f, bool first, Rest... rest) {
  if (first) with_flags<Bs..., true>(f, rest...);
  else with_flags<Bs..., false>(f, rest...);
}

// The infinity norm's max (clip_grad_norm_): a NaN element makes the norm NaN, as PyTorch's does (fmax and std::max
// would drop it, and clipping would go on with the other elements' norm).
TESSERA_HD_INLINE double norm_max(double a, double b) { return a != a || b < a ? a : b; }

// base^n for n >= 0 by repeated squaring: only multiplications, each correctly rounded on every device, so the host
// and a GPU kernel get the same bits (std::pow and CUDA's pow may differ in the last ulp). On the GPU __dmul_rn keeps
// nvcc from contracting the last product into the caller's 1 - x (an FMA rounds once, not twice); GCC contracts
// only within a basic block, and the loop's products are in their own.
TESSERA_HD_INLINE double exact_product(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
TESSERA_HD_INLINE double power_of(double base, int64_t n) {
  double result = 1.0;
  for (; n > 0; n >>= 1) {
    if (n & 1) result = exact_product(result, base);
    base = exact_product(base, base);
  }
  return result;
}

// Adam's values for step t >= 1: step_size = lr / (1 - beta1^t), bias_correction2_sqrt = sqrt(1 - beta2^t). The
// host computes them for a step it counts, a kernel for a step counted on the device (OptimizerSlot::step).
struct AdamBiasCorrections {
  double step_size, bias_correction2_sqrt;
};
TESSERA_HD_INLINE AdamBiasCorrections adam_bias_corrections(double lr, double beta1, double beta2, int64_t t) {
  return {lr / (1.0 - power_of(beta1, t)), sqrt(1.0 - power_of(beta2, t))};
}

template <typename T>
struct SgdScalars {
  T lr, wd, momentum, keep, sign;  // keep = 1 - dampening; sign = -1 to maximize
};

// One SGD element: d = sign g (+ wd p); with momentum buf = first ? d : momentum buf + keep d and d = nesterov ?
// d + momentum buf : buf; p -= lr d. `buf` is read only with kMomentum.
template <typename T, bool kDecay, bool kMomentum, bool kNesterov>
TESSERA_HD_INLINE void sgd_element(const SgdScalars<T>& s, T& p, T g, T* buf, bool first) {
  T d = s.sign * g;
  if constexpr (kDecay) d += s.wd * p;
  if constexpr (kMomentum) {
    const T b = first ? d : *buf * s.momentum + s.keep * d;
    *buf = b;
    d = kNesterov ? d + s.momentum * b : b;
  }
  p -= s.lr * d;
}

// Element k of a parameter's low-precision copy (OptimizerSlot::low_precision) from its updated f32 value, rounded
// as a dtype conversion rounds it (bf16 / f16 constructors: bit-exact software on every device).
TESSERA_HD_INLINE void store_low_precision(void* copy, bool to_bf16, int64_t k, float value) {
  if (to_bf16) static_cast<bf16*>(copy)[k] = bf16(value);
  else static_cast<f16*>(copy)[k] = f16(value);
}

// Host side, before a step: low-precision copies are for f32 parameters and are bf16 or f16.
template <typename Slot>
void check_low_precision_copies(DType param_dtype, const Slot* slots, size_t count, const char* op) {
  for (size_t i = 0; i < count; ++i) {
    if (slots[i].low_precision == nullptr) continue;
    TESSERA_CHECK(param_dtype == DType::f32, op, ": a low-precision copy is kept only for f32 parameters, got ",
                  dtype_name(param_dtype));
    TESSERA_CHECK(slots[i].low_precision_dtype == DType::bf16 || slots[i].low_precision_dtype == DType::f16, op,
                  ": a parameter's low-precision copy must be bf16 or f16, got ",
                  dtype_name(slots[i].low_precision_dtype));
  }
}

}  // namespace tessera::kernels
