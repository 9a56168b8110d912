#pragma once
// Row-major GEMM through cuBLASLt, shared by CudaBackend::gemm and later fused Linear layers (bias and ReLU in the
// matmul's epilogue, bf16/f16 operands accumulated in f32).
//
// Invariants:
//  - Operands are the backend's MatrixArg: row-major with a leading dimension, transposed by flag. cuBLASLt is
//    column-major, so lt_gemm computes c^T = op(b)^T op(a)^T: a and b swap places, and so do m and n.
//  - f32 runs in CUBLAS_COMPUTE_32F (no TF32, as PyTorch's default), f64 in CUBLAS_COMPUTE_64F; bf16/f16 operands
//    accumulate in f32 (c bf16/f16 or f32). Any other combination throws.
//  - Work is queued on the backend's current stream; nothing waits for it.
#include <cublasLt.h>

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/common/check.h"
#include "kernels/common/dtype.h"

// A failed cuBLAS/cuBLASLt call throws tessera::Error naming the call and cuBLAS's status name and text.
#define TESSERA_CUBLAS_CHECK(expr)                                                                          \
  do {                                                                                                      \
    const cublasStatus_t tessera_cublas_status = (expr);                                                    \
    if (__builtin_expect(tessera_cublas_status != CUBLAS_STATUS_SUCCESS, 0)) {                              \
      TESSERA_THROW(#expr, " failed: ", cublasLtGetStatusName(tessera_cublas_status), " (",                  \
                    cublasLtGetStatusString(tessera_cublas_status), ")");                                   \
    }                                                                                                       \
  } while (0)

namespace tessera::kernels::cuda {

class CudaBackend;

// What the matmul's epilogue adds to alpha * op(a) @ op(b) + beta * c.
enum class GemmEpilogue : uint8_t {
  none,
  bias,  // + bias[col] (its ReLU is never fused: CudaBackend::gemm)
};

struct LtGemm {
  DType ab_dtype = DType::f32;  // a and b: f32, f64, bf16 or f16
  DType c_dtype = DType::f32;   // c: ab_dtype, or f32 with bf16/f16 operands
  int64_t m = 0, n = 0, k = 0;
  MatrixArg a, b;               // op(a) is m x k, op(b) is k x n
  void* c = nullptr;            // m x n, row stride ldc
  int64_t ldc = 0;
  double alpha = 1.0, beta = 0.0;
  GemmEpilogue epilogue = GemmEpilogue::none;
  const void* bias = nullptr;  // n contiguous elements of c_dtype (one per column of c: Linear's bias)
  GemmBatch batch;             // several products of this shape in one call (cuBLASLt's strided batch); no bias
};

// c = epilogue(alpha * op(a) @ op(b) + beta * c), queued on backend's current stream. beta == 0 never reads c.
// Returns false, having queued nothing, when cuBLASLt has no algorithm for these operands: the caller then runs a
// bias epilogue apart, and a plain GEMM by its own kernel (CudaBackend::gemm).
bool lt_gemm(CudaBackend& backend, const LtGemm& args);

// Gives back `stream`'s workspace, if it has one: the stream is about to be destroyed, its work done.
void release_gemm_workspace(CudaBackend& backend, cudaStream_t stream);

// k == 0 (m, n > 0): c = epilogue(beta * c) by our own kernel, queued on `stream`, for each product (gemm_entry.cu).
void empty_product(const LtGemm& args, cudaStream_t stream);

}  // namespace tessera::kernels::cuda
