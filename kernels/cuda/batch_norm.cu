// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::batch_norm_stats(const void* x, DType dtype, const ReduceShape& layout, double* mean, double* var, double* unbiased_var) {
  TESSERA_THROW(name_, ": batch_norm_stats is not implemented on CUDA yet");
}

void CudaBackend::batch_norm(const void* x, void* y, DType dtype, const ReduceShape& layout, const double* mean, const double* var, const double* weight, const double* bias, double eps, double* invstd) {
  TESSERA_THROW(name_, ": batch_norm is not implemented on CUDA yet");
}

void CudaBackend::batch_norm_backward(const void* x, const void* gy, void* gx, DType dtype, const ReduceShape& layout, const double* weight, const double* mean, const double* invstd, bool training, double* sum_gy, double* sum_gy_xhat) {
  TESSERA_THROW(name_, ": batch_norm_backward is not implemented on CUDA yet");
}

}  // namespace tessera::kernels::cuda
