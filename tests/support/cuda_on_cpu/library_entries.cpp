// The CUDA backend's calls into NVIDIA's libraries (gemm.cu: cuBLASLt's lt_gemm; conv_2d.cu: cuDNN) have no CPU
// build: in the CPU build of the backend they run on the CPU backend instead, queued on the stream as their kernels
// would be (so a captured graph replays them). Everything around them in kernels/cuda runs its own code: the GEMM
// entry (gemm_entry.cu) and the convolution's bias kernels (conv_2d_bias.cu).
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include "kernels/cuda/conv_2d_bias.h"
#include "kernels/cuda/cublaslt_gemm.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/gemm_epilogue.h"
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
void release_gemm_workspace(CudaBackend&, cudaStream_t) {}  // the delegate keeps no workspace

bool lt_gemm(CudaBackend& backend, const LtGemm& g) {
  TESSERA_CHECK(g.ab_dtype == g.c_dtype, "cuda_on_cpu: lt_gemm with c in another dtype than a and b");
  TESSERA_CHECK(g.batch.count == 1 || g.epilogue == GemmEpilogue::none, "gemm: a batch takes no epilogue");
  if (g.m == 0 || g.n == 0 || g.batch.count == 0) return true;
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
  cuda_on_cpu::enqueue_library_calls(stream, 1, [g, epilogue] {  // one cublasLtMatmul, a whole batch
    for_each_product(g.c_dtype, g.batch, g.a, g.b, g.c, [&](const MatrixArg& a, const MatrixArg& b, void* c) {
      delegate().gemm(g.ab_dtype, g.m, g.n, g.k, g.alpha, a, b, g.beta, c, g.ldc, epilogue);
    });
  });
  return true;
}

namespace {

int64_t input_elements(const Conv2dGeometry& g) { return g.batch * g.in_channels * g.in_h * g.in_w; }
int64_t weight_elements(const Conv2dGeometry& g) {
  return g.out_channels * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
}
int64_t output_elements(const Conv2dGeometry& g) { return g.batch * g.out_channels * g.out_h * g.out_w; }

// cuDNN's bf16 and f16 convolutions accumulate in f32 and round each result once; the CPU backend takes f32 only.
// So for them the operands are widened into f32 copies, the f32 convolution runs on those, and the results are
// rounded back into the buffers the caller gave (f32 and f64 pass straight through).
class InF32 {
 public:
  explicit InF32(DType dtype) : dtype_(dtype) {}
  ~InF32() {
    for (const Result& r : results_) {
      if (dtype_ == DType::bf16) narrow<bf16>(r);
      if (dtype_ == DType::f16) narrow<f16>(r);
    }
  }
  DType dtype() const { return widened() ? DType::f32 : dtype_; }
  const void* input(const void* data, int64_t n) {
    if (!widened() || data == nullptr) return data;
    std::vector<float>& copy = copies_.emplace_back(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      copy[i] = dtype_ == DType::bf16 ? float(static_cast<const bf16*>(data)[i])
                                      : float(static_cast<const f16*>(data)[i]);
    }
    return copy.data();
  }
  void* output(void* data, int64_t n) {
    if (!widened() || data == nullptr) return data;
    results_.push_back({data, &copies_.emplace_back(static_cast<size_t>(n))});
    return results_.back().f32->data();
  }

 private:
  struct Result {
    void* data;
    std::vector<float>* f32;
  };
  bool widened() const { return dtype_ == DType::bf16 || dtype_ == DType::f16; }
  template <typename T> static void narrow(const Result& r) {
    for (size_t i = 0; i < r.f32->size(); ++i) static_cast<T*>(r.data)[i] = T((*r.f32)[i]);
  }
  DType dtype_;
  std::deque<std::vector<float>> copies_;  // a deque keeps the earlier copies where they are
  std::vector<Result> results_;
};

}  // namespace

// The convolution itself on the CPU; its bias (and ReLU) and bias gradient by the backend's own kernels
// (conv_2d_bias.cu).
void CudaBackend::conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* b,
                                 void* y, bool relu) {
  cuda_on_cpu::enqueue_library_calls(stream(), 1, [=] {
    InF32 f32(dtype);
    delegate().conv2d_forward(f32.dtype(), g, f32.input(x, input_elements(g)), f32.input(w, weight_elements(g)),
                              nullptr, f32.output(y, output_elements(g)), /*relu=*/false);
  });
  if (b != nullptr || relu) add_conv_bias(dtype, g, y, b, relu, stream());
}

void CudaBackend::conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy, const void* w,
                                  void* gx, void* gw, void* gb) {
  // cuDNN computes the input and the weight gradient in a call each.
  const int calls = (gx != nullptr ? 1 : 0) + (gw != nullptr ? 1 : 0);
  cuda_on_cpu::enqueue_library_calls(stream(), calls, [=] {
    InF32 f32(dtype);
    delegate().conv2d_backward(f32.dtype(), g, f32.input(x, input_elements(g)), f32.input(gy, output_elements(g)),
                               f32.input(w, weight_elements(g)), f32.output(gx, input_elements(g)),
                               f32.output(gw, weight_elements(g)), nullptr);
  });
  if (gb != nullptr) conv_bias_grad(dtype, g, gy, gb, stream());
}

}  // namespace cuda
}  // namespace tessera::kernels
