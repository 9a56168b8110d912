// The CUDA backend's calls into NVIDIA's libraries (gemm.cu: cuBLASLt's lt_gemm; conv_2d.cu: cuDNN) have no CPU
// build: in the CPU build of the backend they run on the CPU backend instead, queued on the stream as their kernels
// would be (so a captured graph replays them). Everything around them in kernels/cuda runs its own code: the GEMM
// entry (gemm_entry.cu) and the convolution's bias kernels (conv_2d_bias.cu).
#include <cstdlib>
#include <string>

#include "kernels/cuda/conv_2d_bias.h"
#include "kernels/cuda/cublaslt_gemm.h"
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

// cuBLASLt's product on the CPU; CudaBackend::gemm around it (gemm_entry.cu: checks, the separate epilogue, the
// k == 0 kernel, the kernel for operands cuBLASLt refuses) is the GPU's own code. TESSERA_CUDA_ON_CPU_LT_GEMM=refuse
// makes it refuse every operand, as cuBLASLt's heuristic does some, so that the suites run that path.
bool lt_gemm(CudaBackend& backend, const LtGemm& g) {
  TESSERA_CHECK(g.ab_dtype == g.c_dtype, "cuda_on_cpu: lt_gemm with c in another dtype than a and b");
  if (g.m == 0 || g.n == 0) return true;
  const cudaStream_t stream = backend.stream();
  if (g.k == 0) {
    empty_product(g, stream);
    return true;
  }
  static const bool refuses = [] {
    const char* value = std::getenv("TESSERA_CUDA_ON_CPU_LT_GEMM");
    return value != nullptr && std::string(value) == "refuse";
  }();
  if (refuses) return false;
  const GemmEpilogueArgs epilogue{.bias = g.epilogue == GemmEpilogue::none ? nullptr : g.bias};
  cuda_on_cpu::enqueue(stream, [g, epilogue] {
    delegate().gemm(g.ab_dtype, g.m, g.n, g.k, g.alpha, g.a, g.b, g.beta, g.c, g.ldc, epilogue);
  });
  return true;
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
