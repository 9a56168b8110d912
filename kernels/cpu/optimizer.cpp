// CpuBackend optimizer steps, gradient norms and the DDP scale-copy. Invariants:
//  - each parameter's elements update independently, in blocks of kStepBlock (a block's temporaries stay in L1)
//    split over the thread pool; scalars and pointers are passed by value so they stay in registers and the loops
//    vectorise; runtime options become template flags (no branches in the element loops);
//  - results equal PyTorch 1.13's single-tensor SGD/Adam/AdamW term for term (tests/core/test_optim*.cpp);
//  - norms sum fixed blocks of kNormBlock elements and combine them in block order: the same value for any thread
//    count or timing, so every data-parallel rank clips alike.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/common/dtype_dispatch.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/optimizer_rules.h"

#if defined(__AVX__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tessera::kernels::cpu {

namespace {

constexpr int64_t kStepGrain = 32768;  // elements per parallel chunk: scheduling costs little against the flops
constexpr int64_t kStepBlock = 1024;
constexpr int64_t kNormBlock = 32768;

template <typename Body>
void for_each_block(int64_t n, Body&& body) {
  parallel_for(n, kStepGrain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b += kStepBlock) body(b, std::min(end, b + kStepBlock));
  });
}

// out[i] = sqrt(in[i]) (IEEE, identical to std::sqrt). A loop of std::sqrt does not vectorise under GCC's default
// -fmath-errno (it keeps a branch to set errno), hence the explicit SIMD.
void sqrt_into(float* out, const float* in, int64_t n) {
  int64_t i = 0;
#if defined(__AVX__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_sqrt_ps(_mm256_loadu_ps(in + i)));
#elif defined(__SSE2__)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(out + i, _mm_sqrt_ps(_mm_loadu_ps(in + i)));
#endif
  for (; i < n; ++i) out[i] = std::sqrt(in[i]);
}

void sqrt_into(double* out, const double* in, int64_t n) {
  int64_t i = 0;
#if defined(__AVX__)
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(out + i, _mm256_sqrt_pd(_mm256_loadu_pd(in + i)));
#elif defined(__SSE2__)
  for (; i + 2 <= n; i += 2) _mm_storeu_pd(out + i, _mm_sqrt_pd(_mm_loadu_pd(in + i)));
#endif
  for (; i < n; ++i) out[i] = std::sqrt(in[i]);
}

constexpr const char* kParamDtypes = "parameters must be f32 or f64";

// Rewrites elements [begin, end) of a slot's low-precision copy from the updated parameters (while they are in L1).
template <typename T>
void refresh_copy(void* copy, DType copy_dtype, const T* p, int64_t begin, int64_t end) {
  if constexpr (std::is_same_v<T, float>) {
    if (copy == nullptr) return;
    const bool to_bf16 = copy_dtype == DType::bf16;
    for (int64_t k = begin; k < end; ++k) store_low_precision(copy, to_bf16, k, p[k]);
  }
}

// ---- SGD

template <typename T, bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
void sgd_block(const SgdScalars<T> s, T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t begin,
               int64_t end) {
  for (int64_t k = begin; k < end; ++k)
    sgd_element<T, kDecay, kMomentum, kNesterov>(s, p[k], g[k], kMomentum ? buf + k : nullptr, kFirst);
}

// ---- Adam / AdamW

template <typename T>
struct AdamScalars {
  T beta1, beta2, one_minus_beta1, one_minus_beta2, step_size, bc2_sqrt, eps, sign, wd, decay;
};
template <typename T>
struct AdamBuffers {
  T* p;
  const T* g;
  T* m;
  T* v;
  T* v_max;  // amsgrad only
};

// One block: the moments, then the parameters.
template <typename T, bool kCoupled, bool kDecoupled, bool kAmsgrad>
void adam_block(const AdamScalars<T> s, const AdamBuffers<T> b, int64_t begin, int64_t end) {
  T* __restrict p = b.p;
  const T* __restrict g = b.g;
  T* __restrict m = b.m;
  T* __restrict v = b.v;
  T* __restrict v_max = b.v_max;
  for (int64_t k = begin; k < end; ++k) {
    T gk = s.sign * g[k];
    if constexpr (kCoupled) gk += s.wd * p[k];
    m[k] = m[k] * s.beta1 + s.one_minus_beta1 * gk;
    const T vk = v[k] * s.beta2 + s.one_minus_beta2 * gk * gk;
    v[k] = vk;
    if constexpr (kAmsgrad) v_max[k] = std::max(v_max[k], vk);
  }
  T root[kStepBlock];
  sqrt_into(root, (kAmsgrad ? v_max : v) + begin, end - begin);
  for (int64_t k = begin; k < end; ++k) {
    T pk = p[k];
    if constexpr (kDecoupled) pk *= s.decay;
    const T denom = root[k - begin] / s.bc2_sqrt + s.eps;
    p[k] = pk - s.step_size * (m[k] / denom);
  }
}

// ---- norms

enum class NormKind { one, two, inf, general };

template <NormKind kKind, typename T>
double block_norm(const T* data, int64_t begin, int64_t end, double p) {
  double part = 0.0;
  for (int64_t k = begin; k < end; ++k) {
    const double a = std::abs(static_cast<double>(static_cast<acc_t<T>>(data[k])));
    if constexpr (kKind == NormKind::two) part += a * a;
    else if constexpr (kKind == NormKind::one) part += a;
    else if constexpr (kKind == NormKind::inf) part = norm_max(part, a);
    else part += std::pow(a, p);
  }
  return part;
}

}  // namespace

bool CpuBackend::skipped(const StepScalars& scalars) const {
  return scalars.found_inf != nullptr && *host(scalars.found_inf) != 0.0f;
}

// A step that is not skipped counts first on the device, for slots that carry their count (OptimizerSlot::step).
void CpuBackend::count_steps(const OptimizerSlot* slots, size_t count) {
  for (size_t i = 0; i < count; ++i)
    if (slots[i].step != nullptr) ++*host(slots[i].step);
}

void CpuBackend::sgd_step(DType dtype, const SgdHyper& h, const OptimizerSlot* slots, size_t count) {
  const double lr = h.scalars.device ? host(h.scalars.device)[0] : h.lr;
  check_low_precision_copies(dtype, slots, count, "SGD.step");
  if (skipped(h.scalars)) return;
  count_steps(slots, count);
  dispatch_f32_f64(dtype, "SGD.step", [&]<typename T>() {
    const SgdScalars<T> s{.lr = static_cast<T>(lr),
                          .wd = static_cast<T>(h.weight_decay),
                          .momentum = static_cast<T>(h.momentum),
                          .keep = static_cast<T>(1.0 - h.dampening),
                          .sign = h.maximize ? T(-1) : T(1)};
    for (size_t i = 0; i < count; ++i) {
      const OptimizerSlot& slot = slots[i];
      T* p = host(static_cast<T*>(slot.param));
      const T* g = host(static_cast<const T*>(slot.grad));
      T* buf = slot.state[0] ? host(static_cast<T*>(slot.state[0])) : nullptr;
      void* copy = slot.low_precision ? host(slot.low_precision) : nullptr;
      const bool first = slot.first_step || (slot.step && *host(slot.step) == 1);
      with_flags(
          [&]<bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>() {
            for_each_block(slot.numel, [&](int64_t begin, int64_t end) {
              sgd_block<T, kDecay, kMomentum, kFirst, kNesterov>(s, p, g, buf, begin, end);
              refresh_copy(copy, slot.low_precision_dtype, p, begin, end);
            });
          },
          h.weight_decay != 0.0, buf != nullptr, first, h.nesterov);
    }
  }, kParamDtypes);
}

void CpuBackend::adam_step(DType dtype, const AdamHyper& h, const OptimizerSlot* slots, size_t count) {
  const double* device_scalars = h.scalars.device ? host(h.scalars.device) : nullptr;
  const double lr = device_scalars ? device_scalars[0] : h.lr;
  check_low_precision_copies(dtype, slots, count, "Adam.step");
  if (skipped(h.scalars)) return;
  count_steps(slots, count);
  dispatch_f32_f64(dtype, "Adam.step", [&]<typename T>() {
    for (size_t i = 0; i < count; ++i) {
      const OptimizerSlot& slot = slots[i];
      double step_size = device_scalars ? device_scalars[1] : slot.step_size;
      double bc2_sqrt = device_scalars ? device_scalars[2] : slot.bias_correction2_sqrt;
      if (slot.step != nullptr) {
        const AdamBiasCorrections c = adam_bias_corrections(lr, h.beta1, h.beta2, *host(slot.step));
        step_size = c.step_size;
        bc2_sqrt = c.bias_correction2_sqrt;
      }
      const AdamScalars<T> s{.beta1 = static_cast<T>(h.beta1),
                             .beta2 = static_cast<T>(h.beta2),
                             .one_minus_beta1 = static_cast<T>(1.0 - h.beta1),
                             .one_minus_beta2 = static_cast<T>(1.0 - h.beta2),
                             .step_size = static_cast<T>(step_size),
                             .bc2_sqrt = static_cast<T>(bc2_sqrt),
                             .eps = static_cast<T>(h.eps),
                             .sign = h.maximize ? T(-1) : T(1),
                             .wd = static_cast<T>(h.weight_decay),
                             .decay = static_cast<T>(1.0 - lr * h.weight_decay)};
      const AdamBuffers<T> b{.p = host(static_cast<T*>(slot.param)),
                             .g = host(static_cast<const T*>(slot.grad)),
                             .m = host(static_cast<T*>(slot.state[0])),
                             .v = host(static_cast<T*>(slot.state[1])),
                             .v_max = h.amsgrad ? host(static_cast<T*>(slot.state[2])) : nullptr};
      void* copy = slot.low_precision ? host(slot.low_precision) : nullptr;
      const bool coupled_wd = !h.decoupled_weight_decay && h.weight_decay != 0.0;
      const bool decoupled_wd = h.decoupled_weight_decay && h.weight_decay != 0.0;
      with_flags(
          [&]<bool kCoupled, bool kDecoupled, bool kAmsgrad>() {
            for_each_block(slot.numel, [&](int64_t begin, int64_t end) {
              adam_block<T, kCoupled, kDecoupled, kAmsgrad>(s, b, begin, end);
              refresh_copy(copy, slot.low_precision_dtype, b.p, begin, end);
            });
          },
          coupled_wd, decoupled_wd, h.amsgrad);
    }
  }, kParamDtypes);
}

void CpuBackend::norm_power_sum(DType dtype, const void* data, int64_t n, double p, double* out) {
  const NormKind kind = std::isinf(p) ? NormKind::inf : p == 2.0 ? NormKind::two : p == 1.0 ? NormKind::one
                                                                                            : NormKind::general;
  const int64_t blocks = (n + kNormBlock - 1) / kNormBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  dispatch_floating(dtype, "clip_grad_norm_", [&]<typename T>() {
    const T* x = host(static_cast<const T*>(data));
    parallel_for(blocks, 1, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b) {
        const int64_t begin = b * kNormBlock, end = std::min(n, begin + kNormBlock);
        double& part = partial[static_cast<size_t>(b)];
        switch (kind) {
          case NormKind::two: part = block_norm<NormKind::two>(x, begin, end, p); break;
          case NormKind::one: part = block_norm<NormKind::one>(x, begin, end, p); break;
          case NormKind::inf: part = block_norm<NormKind::inf>(x, begin, end, p); break;
          case NormKind::general: part = block_norm<NormKind::general>(x, begin, end, p); break;
        }
      }
    });
  });
  double total = 0.0;
  for (double part : partial) total = kind == NormKind::inf ? norm_max(total, part) : total + part;
  *host(out) = total;
}

void CpuBackend::scale_copy(DType dtype, void* dst, const void* src, int64_t n, double scale) {
  dispatch_f32_f64(dtype, "scale_copy", [&]<typename T>() {
    T* __restrict out = host(static_cast<T*>(dst));
    const T* __restrict in = host(static_cast<const T*>(src));
    const T s = static_cast<T>(scale);
    for (int64_t i = 0; i < n; ++i) out[i] = in[i] * s;
  }, kParamDtypes);
}

}  // namespace tessera::kernels::cpu
