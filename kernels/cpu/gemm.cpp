// GEMM on the CPU: OpenBLAS (cblas_?gemm), except f32 products with a skinny side, which go to oneDNN's sgemm.
// Why: for a batch of 8 (m = 8, or k = 8 in the weight gradient) OpenBLAS packs the whole weight matrix on every
// call, and the AVX-512 kernels it picks on Zen 4 / Sapphire Rapids do so 2-2.5x slower than its AVX2 ones; the
// wide MLP step (batch 8, six 1024x1024 layers) spent 45% of its time packing. oneDNN's sgemm took 0.27-0.64x the
// time at m = 8 and is within 6% on large products; at m = 16-64 with a transposed second operand it is slower,
// hence the narrow rule (measured on the dev VM's EPYC, benchmarks/ddp/diagnose_wide_mlp.sh).
// Debian's OpenBLAS 0.3.21 does not know CPUs newer than itself: on the GPU machine's Xeon (family 6 model 207) it
// falls back to its Prescott (SSE3) kernels, 2.5-4x slower than oneDNN there (wide MLP GEMMs: 34 ms against
// 8.6 ms per step). When OpenBLAS runs such pre-AVX2 kernels on an AVX2 CPU, every f32 GEMM goes to oneDNN.
// bf16 runs on oneDNN's bf16 kernels where the CPU has bf16 units (gemm_onednn_bf16.cpp); elsewhere, and for f16
// (oneDNN 2.6 has no f16 GEMM on CPUs), the operands are widened to f32.
#include "kernels/cpu/gemm.h"

#include <cblas.h>
#include <dnnl.h>

#include <algorithm>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/gemm_epilogue.h"

namespace tessera::kernels::cpu {

namespace {
CBLAS_TRANSPOSE op(const MatrixRef& m) { return m.transposed ? CblasTrans : CblasNoTrans; }
blasint ld(const MatrixRef& m) { return static_cast<blasint>(m.ld); }

template <typename T>
constexpr auto blas_gemm() {
  if constexpr (std::is_same_v<T, float>) return &cblas_sgemm;
  else return &cblas_dgemm;
}

template <typename T>
void gemm(int64_t m, int64_t n, int64_t k, T alpha, MatrixRef a, MatrixRef b, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  // CBLAS sizes are blasint, 32-bit in Debian's OpenBLAS: a wrapped size is either rejected by OpenBLAS's xerbla,
  // which prints and returns with c untouched, or taken as a smaller product. Neither may pass silently.
  constexpr int64_t kMax = std::numeric_limits<blasint>::max();
  TESSERA_CHECK(m <= kMax && n <= kMax && k <= kMax && a.ld <= kMax && b.ld <= kMax && ldc <= kMax,
                "gemm (OpenBLAS): m=", m, " n=", n, " k=", k, " lda=", a.ld, " ldb=", b.ld, " ldc=", ldc,
                " exceed its ", sizeof(blasint) * 8, "-bit sizes");
  blas_gemm<T>()(CblasRowMajor, op(a), op(b), static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k),
                 alpha, static_cast<const T*>(a.data), ld(a), static_cast<const T*>(b.data), ld(b), beta, c,
                 static_cast<blasint>(ldc));
}

bool skinny(int64_t m, int64_t k) { return m <= 8 || k <= 16; }

bool openblas_kernels_predate_cpu() {
  static const bool predate = [] {
    const std::string core = openblas_get_corename();
    for (const char* old : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Atom", "unknown"})
      if (core == old) return __builtin_cpu_supports("avx2") != 0;
    return false;
  }();
  return predate;
}

// oneDNN's row-major sgemm (same argument convention as cblas_sgemm); false when it declines.
bool onednn_sgemm(int64_t m, int64_t n, int64_t k, float alpha, MatrixRef a, MatrixRef b, float beta, float* c,
                  int64_t ldc) {
  num_threads();  // applies TESSERA_NUM_THREADS to the OpenMP pool oneDNN runs on
  return dnnl_sgemm(a.transposed ? 'T' : 'N', b.transposed ? 'T' : 'N', m, n, k, alpha,
                    static_cast<const float*>(a.data), a.ld, static_cast<const float*>(b.data), b.ld, beta, c,
                    ldc) == dnnl_success;
}
}  // namespace

void gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, MatrixRef a, MatrixRef b, float beta, float* c,
              int64_t ldc) {
  if (m > 0 && n > 0 && k > 0 && (skinny(m, k) || openblas_kernels_predate_cpu()) &&
      onednn_sgemm(m, n, k, alpha, a, b, beta, c, ldc))
    return;
  gemm<float>(m, n, k, alpha, a, b, beta, c, ldc);
}

void gemm_f64(int64_t m, int64_t n, int64_t k, double alpha, MatrixRef a, MatrixRef b, double beta, double* c,
              int64_t ldc) {
  gemm<double>(m, n, k, alpha, a, b, beta, c, ldc);
}

namespace {

// The stored rows x cols matrix of `m` (ld apart) widened to a contiguous f32 copy with the same layout.
template <typename T>
std::vector<float> widen(const MatrixRef& m, int64_t rows, int64_t cols) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  const T* data = static_cast<const T*>(m.data);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = static_cast<float>(data[r * m.ld + c]);
  return out;
}

// bf16/f16: f32 products of the widened operands, rounded once into c, the same numbers as converting the operands
// to f32, multiplying and converting the result (and as a GPU's f32-accumulating bf16 GEMM, to summation order).
template <typename T>
void gemm_widened(int64_t m, int64_t n, int64_t k, float alpha, MatrixRef a, MatrixRef b, float beta, T* c,
                  int64_t ldc) {
  if (m == 0 || n == 0) return;
  const int64_t a_rows = a.transposed ? k : m, a_cols = a.transposed ? m : k;
  const int64_t b_rows = b.transposed ? n : k, b_cols = b.transposed ? k : n;
  const std::vector<float> wa = widen<T>(a, a_rows, a_cols), wb = widen<T>(b, b_rows, b_cols);
  std::vector<float> wc = beta != 0.0f ? widen<T>({c, ldc, false}, m, n) : std::vector<float>(m * n);
  gemm_f32(m, n, k, alpha, {wa.data(), std::max<int64_t>(a_cols, 1), a.transposed},
           {wb.data(), std::max<int64_t>(b_cols, 1), b.transposed}, beta, wc.data(), n);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j) c[r * ldc + j] = T(wc[r * n + j]);
}

}  // namespace

void CpuBackend::gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a,
                      const MatrixArg& b, double beta, void* c, int64_t ldc, const GemmEpilogueArgs& epilogue) {
  TESSERA_CHECK(epilogue.bias || !epilogue.relu, "gemm: a ReLU epilogue needs a bias");
  if (epilogue.bias) {
    TESSERA_CHECK(beta == 0.0, "gemm: a bias epilogue needs beta = 0, got ", beta);
    return gemm_with_separate_epilogue(*this, dtype, m, n, k, alpha, a, b, c, ldc, epilogue);  // addmm's order
  }
  const MatrixRef ha{host(a.data), a.ld, a.transposed}, hb{host(b.data), b.ld, b.transposed};
  const float alpha32 = static_cast<float>(alpha), beta32 = static_cast<float>(beta);
  switch (dtype) {
    case DType::f64: return gemm_f64(m, n, k, alpha, ha, hb, beta, host(static_cast<double*>(c)), ldc);
    case DType::f32: return gemm_f32(m, n, k, alpha32, ha, hb, beta32, host(static_cast<float*>(c)), ldc);
    case DType::bf16:
      if (onednn_gemm_bf16(m, n, k, alpha32, ha, hb, beta32, host(c), ldc)) return;
      return gemm_widened(m, n, k, alpha32, ha, hb, beta32, host(static_cast<bf16*>(c)), ldc);
    case DType::f16: return gemm_widened(m, n, k, alpha32, ha, hb, beta32, host(static_cast<f16*>(c)), ldc);
    default: TESSERA_THROW("gemm: expected a floating dtype, got ", dtype_name(dtype));
  }
}

void CpuBackend::gemm_batched(DType dtype, const GemmBatch& batch, int64_t m, int64_t n, int64_t k, double alpha,
                              const MatrixArg& a, const MatrixArg& b, double beta, void* c, int64_t ldc) {
  check_gemm_batch(name(), batch, m, n, ldc);
  for_each_product(dtype, batch, a, b, c, [&](const MatrixArg& ap, const MatrixArg& bp, void* cp) {
    gemm(dtype, m, n, k, alpha, ap, bp, beta, cp, ldc, GemmEpilogueArgs{});
  });
}

}  // namespace tessera::kernels::cpu
