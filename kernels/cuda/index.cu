// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::index_select(DType dtype, const RowLayout& x_layout, void* out, const void* x, const void* index, int64_t count, const IndexBounds& bounds) {
  TESSERA_THROW(name_, ": index_select is not implemented on CUDA yet");
}

void CudaBackend::index_select_backward(DType dtype, const RowLayout& x_layout, void* grad_x, const void* grad_out, const void* index, int64_t count, int64_t skip) {
  TESSERA_THROW(name_, ": index_select_backward is not implemented on CUDA yet");
}

void CudaBackend::gather(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index, int64_t dim_stride, const IndexBounds& bounds) {
  TESSERA_THROW(name_, ": gather is not implemented on CUDA yet");
}

void CudaBackend::scatter_add(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index, int64_t dim_stride, const IndexBounds& bounds) {
  TESSERA_THROW(name_, ": scatter_add is not implemented on CUDA yet");
}

void CudaBackend::one_hot(void* out, const void* index, int64_t n, const IndexBounds& bounds) {
  TESSERA_THROW(name_, ": one_hot is not implemented on CUDA yet");
}

void CudaBackend::report_bad_index(IndexErrorSlot*, const int64_t*, cudaStream_t) {}

}  // namespace tessera::kernels::cuda
