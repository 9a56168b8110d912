#include "kernels/cpu/gemm.h"

#include <cblas.h>

namespace tessera::kernels::cpu {

namespace {
CBLAS_TRANSPOSE op(const MatrixRef& m) { return m.transposed ? CblasTrans : CblasNoTrans; }
blasint ld(const MatrixRef& m) { return static_cast<blasint>(m.ld); }
}  // namespace

void gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, MatrixRef a, MatrixRef b, float beta, float* c,
              int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, op(a), op(b), static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k),
              alpha, static_cast<const float*>(a.data), ld(a), static_cast<const float*>(b.data), ld(b), beta, c,
              static_cast<blasint>(ldc));
}

void gemm_f64(int64_t m, int64_t n, int64_t k, double alpha, MatrixRef a, MatrixRef b, double beta, double* c,
              int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, op(a), op(b), static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k),
              alpha, static_cast<const double*>(a.data), ld(a), static_cast<const double*>(b.data), ld(b), beta, c,
              static_cast<blasint>(ldc));
}

}  // namespace tessera::kernels::cpu
