// GEMM on the CPU: OpenBLAS (cblas_?gemm), except f32 products with a skinny side, which go to oneDNN's sgemm.
// Why: for a batch of 8 (m = 8, or k = 8 in the weight gradient) OpenBLAS packs the whole weight matrix on every
// call, and the AVX-512 kernels it picks on Zen 4 / Sapphire Rapids do so 2-2.5x slower than its AVX2 ones; the
// wide MLP step (batch 8, six 1024x1024 layers) spent 45% of its time packing. oneDNN's sgemm took 0.27-0.64x the
// time at m = 8 and is within 6% on large products; at m = 16-64 with a transposed second operand it is slower,
// hence the narrow rule (measured on the dev VM's EPYC, benchmarks/ddp/diagnose_wide_mlp.sh).
// Debian's OpenBLAS 0.3.21 does not know CPUs newer than itself: on the GPU machine's Xeon (family 6 model 207) it
// falls back to its Prescott (SSE3) kernels, 2.5-4x slower than oneDNN there (wide MLP GEMMs: 34 ms against
// 8.6 ms per step). When OpenBLAS runs such pre-AVX2 kernels on an AVX2 CPU, every f32 GEMM goes to oneDNN.
#include "kernels/cpu/gemm.h"

#include <cblas.h>
#include <dnnl.h>

#include <string>
#include <type_traits>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"

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

void CpuBackend::gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a,
                      const MatrixArg& b, double beta, void* c, int64_t ldc) {
  const MatrixRef ha{host(a.data), a.ld, a.transposed}, hb{host(b.data), b.ld, b.transposed};
  if (dtype == DType::f64) return gemm_f64(m, n, k, alpha, ha, hb, beta, host(static_cast<double*>(c)), ldc);
  TESSERA_CHECK(dtype == DType::f32, "gemm: expected f32 or f64, got ", dtype_name(dtype));
  gemm_f32(m, n, k, static_cast<float>(alpha), ha, hb, static_cast<float>(beta), host(static_cast<float*>(c)), ldc);
}

}  // namespace tessera::kernels::cpu
