#pragma once
// The GEMM epilogue (Backend::gemm's GemmEpilogueArgs) run as separate passes through a backend's own entries:
// c = bias in every row, c += op(a) @ op(b) (accumulated onto the bias, as PyTorch's addmm), then ReLU. The CPU
// always runs it so; a GPU when its fused epilogue cannot take the operands (a bias that cuBLASLt's kernels may not
// read aligned, an f64 GEMM). C++17: CUDA translation units include it.
#include "kernels/backend.h"

namespace tessera::kernels {

inline void gemm_with_separate_epilogue(Backend& backend, DType dtype, int64_t m, int64_t n, int64_t k, double alpha,
                                        const MatrixArg& a, const MatrixArg& b, void* c, int64_t ldc,
                                        const GemmEpilogueArgs& epilogue) {
  LoopShape loop;
  loop.ndim = 2;
  loop.sizes[0] = m;
  loop.sizes[1] = n;
  StridedArg out;
  out.data = c;
  out.dtype = dtype;
  out.strides[0] = ldc;
  out.strides[1] = 1;
  StridedArg bias = out;
  bias.data = const_cast<void*>(epilogue.bias);
  bias.strides[0] = 0;  // every row reads the same bias
  backend.unary(UnaryOp::copy, loop, out, bias, OpScalars{});
  backend.gemm(dtype, m, n, k, alpha, a, b, 1.0, c, ldc, GemmEpilogueArgs{});
  if (epilogue.relu) backend.unary(UnaryOp::relu, loop, out, out, OpScalars{});
}

}  // namespace tessera::kernels
