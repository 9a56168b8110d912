// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::unary(UnaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& in, const OpScalars& scalars) {
  TESSERA_THROW(name_, ": unary is not implemented on CUDA yet");
}

void CudaBackend::binary(BinaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a, const StridedArg& b, const OpScalars& scalars) {
  TESSERA_THROW(name_, ": binary is not implemented on CUDA yet");
}

void CudaBackend::ternary(TernaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a, const StridedArg& b, const StridedArg& c, const OpScalars& scalars) {
  TESSERA_THROW(name_, ": ternary is not implemented on CUDA yet");
}

void CudaBackend::fill(const LoopShape& loop, const StridedArg& out, double value) {
  TESSERA_THROW(name_, ": fill is not implemented on CUDA yet");
}

void CudaBackend::arange(void* out, DType dtype, int64_t n, double start, double step) {
  TESSERA_THROW(name_, ": arange is not implemented on CUDA yet");
}

}  // namespace tessera::kernels::cuda
