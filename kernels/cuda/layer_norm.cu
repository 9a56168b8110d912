// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::layer_norm(const void* x, const void* weight, const void* bias, void* y, double* mean, double* rstd, DType dtype, int64_t rows, int64_t d, double eps) {
  TESSERA_THROW(name_, ": layer_norm is not implemented on CUDA yet");
}

void CudaBackend::layer_norm_backward(const void* x, const void* weight, const void* gy, const double* mean, const double* rstd, void* gx, double* gweight, double* gbias, DType dtype, int64_t rows, int64_t d) {
  TESSERA_THROW(name_, ": layer_norm_backward is not implemented on CUDA yet");
}

}  // namespace tessera::kernels::cuda
