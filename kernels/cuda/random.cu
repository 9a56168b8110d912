// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::random_fill(void* out, DType dtype, int64_t n, const RandomArgs& args) {
  TESSERA_THROW(name_, ": random_fill is not implemented on CUDA yet");
}

}  // namespace tessera::kernels::cuda
