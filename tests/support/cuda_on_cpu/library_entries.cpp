// The CUDA backend's entries that call NVIDIA's libraries (gemm.cu: cuBLASLt; conv_2d.cu: cuDNN) have no CPU build:
// in the CPU build of the backend they run on the CPU backend instead, queued on the stream as their kernels would
// be (so a captured graph replays them). Everything else in kernels/cuda runs its own code, the convolution's bias
// kernels included.
#include "kernels/cuda/conv_2d_bias.h"
#include "kernels/cuda/cuda_backend.h"
#include "tests/support/cuda_on_cpu/runtime.h"

namespace tessera::kernels {

Backend*& cuda_on_cpu_library_delegate() {
  static Backend* delegate = nullptr;
  return delegate;
}

namespace cuda {

namespace {
Backend& delegate() { return *cuda_on_cpu_library_delegate(); }
}  // namespace

void CudaBackend::gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a,
                       const MatrixArg& b, double beta, void* c, int64_t ldc, const GemmEpilogueArgs& epilogue) {
  cuda_on_cpu::enqueue(stream(), [=] { delegate().gemm(dtype, m, n, k, alpha, a, b, beta, c, ldc, epilogue); });
}

// The convolution itself on the CPU; its bias and bias gradient by the backend's own kernels (conv_2d_bias.cu).
void CudaBackend::conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* b,
                                 void* y) {
  cuda_on_cpu::enqueue(stream(), [=] { delegate().conv2d_forward(dtype, g, x, w, nullptr, y); });
  if (b != nullptr) add_conv_bias(dtype, g, y, b, stream());
}

void CudaBackend::conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy, const void* w,
                                  void* gx, void* gw, void* gb) {
  cuda_on_cpu::enqueue(stream(), [=] { delegate().conv2d_backward(dtype, g, x, gy, w, gx, gw, nullptr); });
  if (gb != nullptr) conv_bias_grad(dtype, g, gy, gb, stream());
}

}  // namespace cuda
}  // namespace tessera::kernels
