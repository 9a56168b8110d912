// gemm_f32 / gemm_f64: one body, dispatched to cblas_sgemm / cblas_dgemm by type.
#include "kernels/cpu/gemm.h"

#include <cblas.h>

#include <type_traits>

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
}  // namespace

void gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, MatrixRef a, MatrixRef b, float beta, float* c,
              int64_t ldc) {
  gemm<float>(m, n, k, alpha, a, b, beta, c, ldc);
}

void gemm_f64(int64_t m, int64_t n, int64_t k, double alpha, MatrixRef a, MatrixRef b, double beta, double* c,
              int64_t ldc) {
  gemm<double>(m, n, k, alpha, a, b, beta, c, ldc);
}

}  // namespace tessera::kernels::cpu
