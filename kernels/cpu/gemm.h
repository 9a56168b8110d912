#pragma once
// Row-major GEMM on the CPU: C = alpha * op(A) @ op(B) + beta * C (gemm.cpp says which library runs which case).
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
// bf16 operands and C, f32 accumulation, through oneDNN on CPUs with bf16 units (gemm_onednn_bf16.cpp). False,
// having done nothing, where it has no fast kernel for the case (no such units, alpha != 1, an odd layout): the
// caller widens to f32 instead.
bool onednn_gemm_bf16(int64_t m, int64_t n, int64_t k, float alpha, MatrixRef a, MatrixRef b, float beta, void* c,
                      int64_t ldc);

}  // namespace tessera::kernels::cpu
