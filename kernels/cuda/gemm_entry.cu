// CudaBackend::gemm and gemm_batched: their checks, the choice between cuBLASLt's fused epilogue and a separate
// one, and by our own kernels the k == 0 product and what cuBLASLt has no algorithm for (a launch per product in a
// batch: a fallback, seen so far only for a dimension of 1). cuBLASLt itself is behind lt_gemm (gemm.cu);
// this file calls no library, so the CPU build of the backend (tests/support/cuda_on_cpu) runs it too.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/cublaslt_gemm.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/gemm_epilogue.h"

namespace tessera::kernels::cuda {

namespace {

// k == 0: op(a) @ op(b) is zero, so c = beta * c + bias. beta == 0 overwrites (NaN in c does not survive).
template <typename T, typename S>
__global__ void empty_product_kernel(T* c, int64_t m, int64_t n, int64_t ldc, S beta, const T* bias) {
  TESSERA_GRID_STRIDE_LOOP(i, m * n) {
    T* p = c + (i / n) * ldc + i % n;
    S v = beta == S(0) ? S(0) : beta * static_cast<S>(*p);
    if (bias != nullptr) v += static_cast<S>(bias[i % n]);
    *p = static_cast<T>(v);
  }
}

// What cuBLASLt has no algorithm for (its heuristic has refused shapes with a dimension of 1): c = alpha * op(a) @
// op(b) + beta * c, one element of c per thread, accumulated in S. Untiled, so slow, and used only then.
template <typename T, typename S>
__global__ void refused_gemm_kernel(int64_t m, int64_t n, int64_t k, S alpha, const T* a, int64_t lda, bool a_t,
                                    const T* b, int64_t ldb, bool b_t, S beta, T* c, int64_t ldc) {
  TESSERA_GRID_STRIDE_LOOP(i, m * n) {
    const int64_t row = i / n, col = i % n;
    S sum = S(0);
    for (int64_t p = 0; p < k; ++p) {
      const T x = a_t ? a[p * lda + row] : a[row * lda + p];  // op(a)[row][p]
      const T y = b_t ? b[col * ldb + p] : b[p * ldb + col];  // op(b)[p][col]
      sum += static_cast<S>(x) * static_cast<S>(y);
    }
    T* out = c + row * ldc + col;
    *out = static_cast<T>(beta == S(0) ? alpha * sum : alpha * sum + beta * static_cast<S>(*out));
  }
}

// Calls f(product) with each product of g's batch as a single GEMM (a plain GEMM is its own one product).
template <typename F>
void each_product(const LtGemm& g, F&& f) {
  for_each_product(g.c_dtype, g.batch, g.a, g.b, g.c, [&](const MatrixArg& a, const MatrixArg& b, void* c) {
    LtGemm product = g;
    product.a = a;
    product.b = b;
    product.c = c;
    product.batch = GemmBatch{};
    f(product);
  });
}

void refused_gemm(const LtGemm& g, cudaStream_t stream) {
  dispatch_floating(g.c_dtype, "gemm", [&]<typename T>() {
    using S = std::conditional_t<std::is_same_v<T, double>, double, float>;
    each_product(g, [&](const LtGemm& p) {
      refused_gemm_kernel<T, S><<<grid_for(p.m * p.n), kBlockSize, 0, stream>>>(
          p.m, p.n, p.k, static_cast<S>(p.alpha), static_cast<const T*>(p.a.data), p.a.ld, p.a.transposed,
          static_cast<const T*>(p.b.data), p.b.ld, p.b.transposed, static_cast<S>(p.beta), static_cast<T*>(p.c),
          p.ldc);
      TESSERA_CUDA_CHECK_LAUNCH("refused_gemm_kernel");
    });
  });
}

// The cuBLASLt call of c = alpha * op(a) @ op(b) + beta * c, all of one dtype, before any epilogue or batch.
LtGemm lt_product(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a, const MatrixArg& b,
                  double beta, void* c, int64_t ldc) {
  LtGemm g;
  g.ab_dtype = g.c_dtype = dtype;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.b = b;
  g.c = c;
  g.ldc = ldc;
  g.alpha = alpha;
  g.beta = beta;
  return g;
}

}  // namespace

void empty_product(const LtGemm& g, cudaStream_t stream) {
  const void* bias = g.epilogue == GemmEpilogue::none ? nullptr : g.bias;
  dispatch_floating(g.c_dtype, "gemm", [&]<typename T>() {
    using S = std::conditional_t<std::is_same_v<T, double>, double, float>;
    each_product(g, [&](const LtGemm& p) {
      empty_product_kernel<T, S><<<grid_for(p.m * p.n), kBlockSize, 0, stream>>>(
          static_cast<T*>(p.c), p.m, p.n, p.ldc, static_cast<S>(p.beta), static_cast<const T*>(bias));
      TESSERA_CUDA_CHECK_LAUNCH("empty_product_kernel");
    });
  });
}

void CudaBackend::gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a,
                       const MatrixArg& b, double beta, void* c, int64_t ldc, const GemmEpilogueArgs& epilogue) {
  TESSERA_CHECK(is_floating(dtype), name_, ": gemm: expected a floating dtype, got ", dtype_name(dtype));
  TESSERA_CHECK(epilogue.bias || !epilogue.relu, name_, ": gemm: a ReLU epilogue needs a bias");
  TESSERA_CHECK(!epilogue.bias || beta == 0.0, name_, ": gemm: a bias epilogue needs beta = 0, got ", beta);
  // cuBLASLt's alignment hints cover a, b and c but not the bias, and its heuristics may pick kernels that read the
  // bias 16 bytes at a time (PyTorch saw misaligned-address faults): fuse only a 16-byte aligned bias, and no f64.
  // PyTorch also keeps every dimension under 65535 * 32 for cuBLASLt's bias epilogue (pytorch#73455: EXECUTION_FAILED
  // for a 655360-row bias GEMM; #82922 raised its limit to this value).
  constexpr int64_t kLtBiasMaxDim = 65535 * 32;
  const bool fusable = reinterpret_cast<uintptr_t>(epilogue.bias) % 16 == 0 && dtype != DType::f64 &&
                       m < kLtBiasMaxDim && n < kLtBiasMaxDim && k < kLtBiasMaxDim;
  if (epilogue.bias && !fusable)
    return gemm_with_separate_epilogue(*this, dtype, m, n, k, alpha, a, b, c, ldc, epilogue);
  LtGemm g = lt_product(dtype, m, n, k, alpha, a, b, beta, c, ldc);
  // Only the bias is fused. cuBLASLt documents its ReLU epilogue as max(x, 0), which may turn a NaN into 0 where
  // PyTorch's relu (and ours) keeps it, and a NaN lost there would hide an overflow from the loss scaler: the ReLU
  // runs as our own kernel, one elementwise pass over c.
  g.epilogue = epilogue.bias ? GemmEpilogue::bias : GemmEpilogue::none;
  g.bias = epilogue.bias;
  if (!lt_gemm(*this, g)) {
    // cuBLASLt has no algorithm for these operands: the epilogue apart (whose plain GEMM comes back here), else ours.
    if (epilogue.bias) return gemm_with_separate_epilogue(*this, dtype, m, n, k, alpha, a, b, c, ldc, epilogue);
    return refused_gemm(g, stream());
  }
  if (epilogue.relu) relu_in_place(*this, dtype, m, n, c, ldc);
}

void CudaBackend::gemm_batched(DType dtype, const GemmBatch& batch, int64_t m, int64_t n, int64_t k, double alpha,
                               const MatrixArg& a, const MatrixArg& b, double beta, void* c, int64_t ldc) {
  TESSERA_CHECK(is_floating(dtype), name_, ": gemm: expected a floating dtype, got ", dtype_name(dtype));
  check_gemm_batch(name_.c_str(), batch, m, n, ldc);
  if (batch.count == 1) return gemm(dtype, m, n, k, alpha, a, b, beta, c, ldc, GemmEpilogueArgs{});
  // cuBLASLt has been seen to refuse batch counts above 65,535 (TensorFlow splits its batches there): a larger
  // batch runs as several calls.
  constexpr int64_t kMostPerCall = 65535;
  for (int64_t first = 0; first < batch.count; first += kMostPerCall) {
    const ProductOperands o = product_operands(dtype, batch, a, b, c, first);
    LtGemm g = lt_product(dtype, m, n, k, alpha, o.a, o.b, beta, o.c, ldc);
    g.batch = batch;
    g.batch.count = std::min(kMostPerCall, batch.count - first);
    if (!lt_gemm(*this, g)) refused_gemm(g, stream());
  }
}

}  // namespace tessera::kernels::cuda
