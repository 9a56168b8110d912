// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, void* indices) {
  TESSERA_THROW(name_, ": max_pool2d_forward is not implemented on CUDA yet");
}

void CudaBackend::max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, const void* indices, void* gx) {
  TESSERA_THROW(name_, ": max_pool2d_backward is not implemented on CUDA yet");
}

void CudaBackend::avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y) {
  TESSERA_THROW(name_, ": avg_pool2d_forward is not implemented on CUDA yet");
}

void CudaBackend::avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, void* gx) {
  TESSERA_THROW(name_, ": avg_pool2d_backward is not implemented on CUDA yet");
}

}  // namespace tessera::kernels::cuda
