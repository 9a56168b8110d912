// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::softmax(const void* x, void* y, DType dtype, const ReduceShape& layout, bool log) {
  TESSERA_THROW(name_, ": softmax is not implemented on CUDA yet");
}

void CudaBackend::softmax_backward(const void* y, const void* g, void* gx, DType dtype, const ReduceShape& layout, bool log) {
  TESSERA_THROW(name_, ": softmax_backward is not implemented on CUDA yet");
}

}  // namespace tessera::kernels::cuda
