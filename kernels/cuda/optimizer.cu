// CudaBackend's fused optimizer steps (sgd_step, adam_step) and the DDP scale_copy (the CPU's
// kernels/cpu/optimizer.cpp, term for term: PyTorch 1.13's single-tensor SGD/Adam/AdamW). Invariants:
//  - multi-tensor (multi_tensor.cuh): a step over all parameters of a model is usually one launch;
//  - every element updates independently (no reductions), so results do not depend on the launch shape; they
//    equal the CPU's to rounding (the CPU is built with FMA contraction, so is nvcc: same formulas, possibly
//    contracted differently);
//  - options that are the same for every slot become template flags; per-slot ones (a momentum buffer, its
//    first step, a low-precision copy to rewrite) are branches uniform over a tile;
//  - a step given a found_inf flag (StepScalars) reads it in every block and, when it is set, writes nothing;
//  - device step counts (OptimizerSlot::step) advance in a launch of their own before the update, so every block
//    of the update reads the same count t: one kernel cannot order one block's write before another's read.
#include <algorithm>
#include <type_traits>

#include "kernels/common/dtype_dispatch.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/multi_tensor.cuh"
#include "kernels/optimizer_rules.h"

namespace tessera::kernels::cuda {

namespace {

constexpr const char* kParamDtypes = "parameters must be f32 or f64";

// Element k of the slot's low-precision copy, when it has one (f32 parameters only: the host checks).
template <typename T>
__device__ void refresh_copy(const DeviceSlot& slot, int64_t k, T value) {
  if constexpr (std::is_same_v<T, float>)
    if (slot.low_precision) store_low_precision(slot.low_precision, slot.low_precision_bf16, k, value);
}

// ---- device step counts: ++*step for each slot that has one, unless the step is skipped

constexpr int kCountsPerLaunch = 256;
struct StepCounts {
  int64_t* step[kCountsPerLaunch];
  int count;
};

__global__ void count_steps_kernel(StepCounts counts, const float* found_inf) {
  if (found_inf && *found_inf != 0.0f) return;
  if (static_cast<int>(threadIdx.x) < counts.count) ++*counts.step[threadIdx.x];
}

void count_steps(const OptimizerSlot* slots, size_t count, const float* found_inf, cudaStream_t stream) {
  StepCounts counts{};
  auto launch = [&] {
    count_steps_kernel<<<1, kCountsPerLaunch, 0, stream>>>(counts, found_inf);
    TESSERA_CUDA_CHECK_LAUNCH(count_steps_kernel);
    counts.count = 0;
  };
  for (size_t i = 0; i < count; ++i) {
    if (slots[i].step == nullptr) continue;
    counts.step[counts.count] = slots[i].step;
    if (++counts.count == kCountsPerLaunch) launch();
  }
  if (counts.count > 0) launch();
}

// ---- SGD (the rule is kernels/optimizer_rules.h's, shared with the CPU)

template <typename T, bool kDecay, bool kNesterov>
struct SgdRule {
  SgdScalars<T> host_scalars;
  const double* step_scalars;  // StepScalars::device, or null
  const float* found_inf;      // StepScalars::found_inf, or null

  __device__ void operator()(const DeviceSlot& slot, int64_t begin, int64_t end) const {
    if (found_inf && *found_inf != 0.0f) return;
    SgdScalars<T> s = host_scalars;
    if (step_scalars) s.lr = static_cast<T>(step_scalars[0]);
    T* __restrict__ p = static_cast<T*>(slot.param);
    const T* __restrict__ g = static_cast<const T*>(slot.grad);
    T* __restrict__ buf = static_cast<T*>(slot.state[0]);
    const bool first = slot.first_step || (slot.step && *slot.step == 1);
    for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) {
      if (buf) sgd_element<T, kDecay, true, kNesterov>(s, p[k], g[k], buf + k, first);
      else sgd_element<T, kDecay, false, kNesterov>(s, p[k], g[k], nullptr, first);
      refresh_copy(slot, k, p[k]);
    }
  }
};

// ---- Adam / AdamW: g = sign g (+ wd p, coupled); m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g g;
// v_max = max(v_max, v) (amsgrad); p = p (1 - lr wd, decoupled) - step_size m / (sqrt(v or v_max) / bc2 + eps).

template <typename T>
struct AdamScalars {
  T beta1, beta2, one_minus_beta1, one_minus_beta2, eps, sign, wd, decay;
};

template <typename T, bool kCoupled, bool kDecoupled, bool kAmsgrad>
struct AdamRule {
  AdamScalars<T> host_scalars;
  double lr, beta1, beta2, weight_decay;
  const double* step_scalars;  // StepScalars::device ([lr, step_size, bias_correction2_sqrt]), or null
  const float* found_inf;      // StepScalars::found_inf, or null

  __device__ void operator()(const DeviceSlot& slot, int64_t begin, int64_t end) const {
    if (found_inf && *found_inf != 0.0f) return;
    AdamScalars<T> s = host_scalars;
    double step_size = slot.step_size, bc2_sqrt = slot.bias_correction2_sqrt;
    if (step_scalars) {  // as the host computes them: in f64, rounded once
      s.decay = static_cast<T>(1.0 - step_scalars[0] * weight_decay);
      step_size = step_scalars[1];
      bc2_sqrt = step_scalars[2];
    }
    if (slot.step) {
      const double step_lr = step_scalars ? step_scalars[0] : lr;
      const AdamBiasCorrections c = adam_bias_corrections(step_lr, beta1, beta2, *slot.step);
      step_size = c.step_size;
      bc2_sqrt = c.bias_correction2_sqrt;
    }
    const T step_size_t = static_cast<T>(step_size), bc2_sqrt_t = static_cast<T>(bc2_sqrt);
    T* __restrict__ p = static_cast<T*>(slot.param);
    const T* __restrict__ g = static_cast<const T*>(slot.grad);
    T* __restrict__ m = static_cast<T*>(slot.state[0]);
    T* __restrict__ v = static_cast<T*>(slot.state[1]);
    T* __restrict__ v_max = static_cast<T*>(slot.state[2]);
    for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) {
      T gk = s.sign * g[k];
      if constexpr (kCoupled) gk += s.wd * p[k];
      const T mk = m[k] * s.beta1 + s.one_minus_beta1 * gk;
      m[k] = mk;
      const T vk = v[k] * s.beta2 + s.one_minus_beta2 * gk * gk;
      v[k] = vk;
      T second = vk;
      if constexpr (kAmsgrad) {
        const T old = v_max[k];
        second = old < vk ? vk : old;  // std::max(v_max, v), NaN handling included
        v_max[k] = second;
      }
      T pk = p[k];
      if constexpr (kDecoupled) pk *= s.decay;
      const T denom = sqrt(second) / bc2_sqrt_t + s.eps;
      p[k] = pk - step_size_t * (mk / denom);
      refresh_copy(slot, k, p[k]);
    }
  }
};

template <typename T>
__global__ void scale_copy_kernel(T* __restrict__ dst, const T* __restrict__ src, int64_t n, T scale) {
  TESSERA_GRID_STRIDE_LOOP(i, n) dst[i] = src[i] * scale;
}

}  // namespace

void CudaBackend::sgd_step(DType dtype, const SgdHyper& h, const OptimizerSlot* slots, size_t count) {
  check_low_precision_copies(dtype, slots, count, "SGD.step");
  dispatch_f32_f64(
      dtype, "SGD.step",
      [&]<typename T>() {
        const SgdScalars<T> s{static_cast<T>(h.lr), static_cast<T>(h.weight_decay), static_cast<T>(h.momentum),
                              static_cast<T>(1.0 - h.dampening), h.maximize ? T(-1) : T(1)};
        count_steps(slots, count, h.scalars.found_inf, stream());
        with_flags(
            [&]<bool kDecay, bool kNesterov>() {
              for_each_chunk(slots, count, stream(), SgdRule<T, kDecay, kNesterov>{s, h.scalars.device, h.scalars.found_inf});
            },
            h.weight_decay != 0.0, h.nesterov);
      },
      kParamDtypes);
}

void CudaBackend::adam_step(DType dtype, const AdamHyper& h, const OptimizerSlot* slots, size_t count) {
  check_low_precision_copies(dtype, slots, count, "Adam.step");
  dispatch_f32_f64(
      dtype, "Adam.step",
      [&]<typename T>() {
        const AdamScalars<T> s{static_cast<T>(h.beta1),       static_cast<T>(h.beta2),
                               static_cast<T>(1.0 - h.beta1), static_cast<T>(1.0 - h.beta2),
                               static_cast<T>(h.eps),         h.maximize ? T(-1) : T(1),
                               static_cast<T>(h.weight_decay), static_cast<T>(1.0 - h.lr * h.weight_decay)};
        const bool decay = h.weight_decay != 0.0;
        count_steps(slots, count, h.scalars.found_inf, stream());
        with_flags(
            [&]<bool kCoupled, bool kDecoupled, bool kAmsgrad>() {
              for_each_chunk(slots, count, stream(),
                             AdamRule<T, kCoupled, kDecoupled, kAmsgrad>{s, h.lr, h.beta1, h.beta2, h.weight_decay,
                                                                          h.scalars.device, h.scalars.found_inf});
            },
            decay && !h.decoupled_weight_decay, decay && h.decoupled_weight_decay, h.amsgrad);
      },
      kParamDtypes);
}

void CudaBackend::scale_copy(DType dtype, void* dst, const void* src, int64_t n, double scale) {
  dispatch_f32_f64(
      dtype, "scale_copy",
      [&]<typename T>() {
        if (n <= 0) return;
        scale_copy_kernel<T><<<grid_for(n), kBlockSize, 0, stream()>>>(static_cast<T*>(dst),
                                                                         static_cast<const T*>(src), n,
                                                                         static_cast<T>(scale));
        TESSERA_CUDA_CHECK_LAUNCH(scale_copy_kernel);
      },
      kParamDtypes);
}

}  // namespace tessera::kernels::cuda
