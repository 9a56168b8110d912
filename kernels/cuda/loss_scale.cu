// CudaBackend's dynamic loss scaling (kernels/cpu/loss_scale.cpp on the CPU; the arithmetic is
// kernels/loss_scale_rules.h's). Invariants:
//  - unscale is one multi-tensor launch per 32 gradients (multi_tensor.cuh), reading the scale from device memory,
//    so GradScaler never asks the host for it; a thread that meets an inf or NaN stores 1 into found_inf (every
//    writer stores the same value, as PyTorch's kernel does, so no atomic is needed);
//  - the update is one thread: it reads found_inf after the unscale and the optimizer step that read it, in stream
//    order, and resets it for the next step.
#include <vector>

#include "kernels/common/dtype_dispatch.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/multi_tensor.cuh"
#include "kernels/loss_scale_rules.h"

namespace tessera::kernels::cuda {

namespace {

// A slot's `param` is the gradient unscaled in place.
template <typename T>
struct UnscaleRule {
  const float* scale;
  float* found_inf;

  __device__ void operator()(const DeviceSlot& slot, int64_t begin, int64_t end) const {
    const T inverse = static_cast<T>(inverse_loss_scale(*scale));
    T* __restrict__ g = static_cast<T*>(slot.param);
    bool found = false;
    for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) g[k] = unscale_element(g[k], inverse, found);
    if (found) *found_inf = 1.0f;
  }
};

__global__ void update_loss_scale_kernel(float* scale, int32_t* growth_tracker, float* found_inf,
                                         LossScaleUpdate rule) {
  update_loss_scale_rule(*scale, *growth_tracker, *found_inf, rule);
}

}  // namespace

void CudaBackend::unscale_gradients(DType dtype, void* const* grads, const int64_t* numels, size_t count,
                                    const float* scale, float* found_inf) {
  std::vector<OptimizerSlot> slots(count);
  for (size_t i = 0; i < count; ++i) slots[i] = OptimizerSlot{.param = grads[i], .numel = numels[i]};
  dispatch_f32_f64(
      dtype, "GradScaler.unscale_",
      [&]<typename T>() { for_each_chunk(slots.data(), count, stream(), UnscaleRule<T>{scale, found_inf}); },
      "gradients must be f32 or f64");
}

void CudaBackend::update_loss_scale(float* scale, int32_t* growth_tracker, float* found_inf,
                                    const LossScaleUpdate& rule) {
  update_loss_scale_kernel<<<1, 1, 0, stream()>>>(scale, growth_tracker, found_inf, rule);
  TESSERA_CUDA_CHECK_LAUNCH(update_loss_scale_kernel);
}

}  // namespace tessera::kernels::cuda
