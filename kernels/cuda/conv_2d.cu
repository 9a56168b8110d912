// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* b, void* y) {
  TESSERA_THROW(name_, ": conv2d_forward is not implemented on CUDA yet");
}

void CudaBackend::conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy, const void* w, void* gx, void* gw, void* gb) {
  TESSERA_THROW(name_, ": conv2d_backward is not implemented on CUDA yet");
}

}  // namespace tessera::kernels::cuda
