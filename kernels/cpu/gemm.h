#pragma once
// Row-major GEMM through CBLAS (OpenBLAS): C = alpha * op(A) @ op(B) + beta * C.
#include <cstdint>

namespace tessera::kernels::cpu {

struct MatrixRef {
  const void* data;
  int64_t ld;        // leading dimension (row stride of the stored matrix)
  bool transposed;   // op(A) = A^T
};

void gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, MatrixRef a, MatrixRef b, float beta, float* c,
              int64_t ldc);
void gemm_f64(int64_t m, int64_t n, int64_t k, double alpha, MatrixRef a, MatrixRef b, double beta, double* c,
              int64_t ldc);

}  // namespace tessera::kernels::cpu
