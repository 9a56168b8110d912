// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::sgd_step(DType dtype, const SgdHyper& hyper, const OptimizerSlot* slots, size_t count) {
  TESSERA_THROW(name_, ": sgd_step is not implemented on CUDA yet");
}

void CudaBackend::adam_step(DType dtype, const AdamHyper& hyper, const OptimizerSlot* slots, size_t count) {
  TESSERA_THROW(name_, ": adam_step is not implemented on CUDA yet");
}

void CudaBackend::scale_copy(DType dtype, void* dst, const void* src, int64_t n, double scale) {
  TESSERA_THROW(name_, ": scale_copy is not implemented on CUDA yet");
}

}  // namespace tessera::kernels::cuda
