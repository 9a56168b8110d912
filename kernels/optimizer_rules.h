#pragma once
// The per-element update rules of the fused optimizer steps, written once for every device (PyTorch 1.13's
// single-tensor SGD, term for term), and the flag dispatch both backends use to make runtime options template
// arguments (a loop per combination, no branch per element). C++17, host-device.
#include <cstdint>

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

}  // namespace tessera::kernels
