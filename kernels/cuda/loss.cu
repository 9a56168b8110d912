// Placeholder entries until this family lands (work in progress: each throws).
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

void CudaBackend::check_class_targets(const int64_t* target, int64_t n, int64_t classes, int64_t ignore_index, int64_t* result) {
  TESSERA_THROW(name_, ": check_class_targets is not implemented on CUDA yet");
}

void CudaBackend::cross_entropy(const void* logits, const int64_t* target, void* probs, void* losses, DType dtype, const ReduceShape& layout, int64_t ignore_index, double label_smoothing) {
  TESSERA_THROW(name_, ": cross_entropy is not implemented on CUDA yet");
}

void CudaBackend::cross_entropy_backward(const void* probs, const int64_t* target, const LossGrad& grad, void* gx, DType dtype, const ReduceShape& layout, int64_t ignore_index, double label_smoothing) {
  TESSERA_THROW(name_, ": cross_entropy_backward is not implemented on CUDA yet");
}

void CudaBackend::nll_loss(const void* log_probs, const int64_t* target, void* losses, DType dtype, const ReduceShape& layout, int64_t ignore_index) {
  TESSERA_THROW(name_, ": nll_loss is not implemented on CUDA yet");
}

void CudaBackend::nll_loss_backward(const int64_t* target, const LossGrad& grad, void* gx, DType dtype, const ReduceShape& layout, int64_t ignore_index) {
  TESSERA_THROW(name_, ": nll_loss_backward is not implemented on CUDA yet");
}

void CudaBackend::sum_losses(const void* losses, void* out, DType dtype, int64_t n, double divisor) {
  TESSERA_THROW(name_, ": sum_losses is not implemented on CUDA yet");
}

void CudaBackend::mse_loss(const void* a, const void* b, void* diff, void* squares, void* total, DType dtype, int64_t n, double divisor) {
  TESSERA_THROW(name_, ": mse_loss is not implemented on CUDA yet");
}

void CudaBackend::mse_loss_backward(const void* diff, const LossGrad& grad, void* gx, DType dtype, int64_t n) {
  TESSERA_THROW(name_, ": mse_loss_backward is not implemented on CUDA yet");
}

}  // namespace tessera::kernels::cuda
