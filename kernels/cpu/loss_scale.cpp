// CpuBackend's dynamic loss scaling: GradScaler's unscale over every gradient and its scale update, on the CPU
// (kernels/loss_scale_rules.h holds the arithmetic all devices share). Elements are independent; a gradient is
// split over the thread pool and each chunk reports its own inf/NaN, so the flag does not depend on the split.
#include <atomic>

#include "kernels/common/dtype_dispatch.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/loss_scale_rules.h"

namespace tessera::kernels::cpu {

namespace {
constexpr int64_t kUnscaleGrain = 65536;
}  // namespace

void CpuBackend::unscale_gradients(DType dtype, void* const* grads, const int64_t* numels, size_t count,
                                   const float* scale, float* found_inf) {
  std::atomic<bool> found{false};
  dispatch_f32_f64(dtype, "GradScaler.unscale_", [&]<typename T>() {
    const auto inverse = static_cast<T>(inverse_loss_scale(*host(scale)));
    for (size_t i = 0; i < count; ++i) {
      T* g = host(static_cast<T*>(grads[i]));
      parallel_for(numels[i], kUnscaleGrain, [&](int64_t begin, int64_t end) {
        bool chunk_found = false;
        for (int64_t k = begin; k < end; ++k) g[k] = unscale_element(g[k], inverse, chunk_found);
        if (chunk_found) found.store(true, std::memory_order_relaxed);
      });
    }
  }, "gradients must be f32 or f64");
  if (found.load()) *host(found_inf) = 1.0f;
}

void CpuBackend::update_loss_scale(float* scale, int32_t* growth_tracker, float* found_inf,
                                   const LossScaleUpdate& rule) {
  update_loss_scale_rule(*host(scale), *host(growth_tracker), *host(found_inf), rule);
}

}  // namespace tessera::kernels::cpu
