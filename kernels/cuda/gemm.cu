// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a, const MatrixArg& b, double beta, void* c, int64_t ldc) {
  TESSERA_THROW(name_, ": gemm is not implemented on CUDA yet");
}

}  // namespace tessera::kernels::cuda
