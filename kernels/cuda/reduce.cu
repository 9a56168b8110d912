// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::sum(const void* in, void* out, DType dtype, const ReduceShape& shape) {
  TESSERA_THROW(name_, ": sum is not implemented on CUDA yet");
}

void CudaBackend::variance(const void* in, void* out, DType dtype, const ReduceShape& shape, double divisor) {
  TESSERA_THROW(name_, ": variance is not implemented on CUDA yet");
}

void CudaBackend::extreme(bool is_max, const void* in, void* values, int64_t* indices, DType dtype, const ReduceShape& shape) {
  TESSERA_THROW(name_, ": extreme is not implemented on CUDA yet");
}

void CudaBackend::extreme_backward(const void* grad, const int64_t* indices, void* grad_in, DType dtype, const ReduceShape& shape) {
  TESSERA_THROW(name_, ": extreme_backward is not implemented on CUDA yet");
}

double CudaBackend::norm_power_sum(DType dtype, const void* data, int64_t n, double p) {
  TESSERA_THROW(name_, ": norm_power_sum is not implemented on CUDA yet");
}

}  // namespace tessera::kernels::cuda
