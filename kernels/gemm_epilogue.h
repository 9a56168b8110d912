#pragma once
// The GEMM epilogue (Backend::gemm's GemmEpilogueArgs) run as separate passes through a backend's own entries:
// c = bias in every row, c += op(a) @ op(b) (accumulated onto the bias, as PyTorch's addmm), then ReLU. The CPU
// always runs it so; a GPU when its fused epilogue cannot take the operands (a bias that cuBLASLt's kernels may not
// read aligned, an f64 GEMM). C++17: CUDA translation units include it.
#include "kernels/backend.h"
#include "kernels/common/check.h"
#include "kernels/common/dtype.h"

namespace tessera::kernels {

// An m x n matrix with row stride ldc, as an elementwise loop and operand.
inline LoopShape matrix_loop(int64_t m, int64_t n) {
  LoopShape loop;
  loop.ndim = 2;
  loop.sizes[0] = m;
  loop.sizes[1] = n;
  return loop;
}
inline StridedArg matrix_operand(void* data, DType dtype, int64_t ldc) {
  StridedArg arg;
  arg.data = data;
  arg.dtype = dtype;
  arg.strides[0] = ldc;
  arg.strides[1] = 1;
  return arg;
}

// c = relu(c), by the backend's own elementwise ReLU (which keeps a NaN, as PyTorch's).
inline void relu_in_place(Backend& backend, DType dtype, int64_t m, int64_t n, void* c, int64_t ldc) {
  const StridedArg out = matrix_operand(c, dtype, ldc);
  backend.unary(UnaryOp::relu, matrix_loop(m, n), out, out, OpScalars{});
}

inline void gemm_with_separate_epilogue(Backend& backend, DType dtype, int64_t m, int64_t n, int64_t k, double alpha,
                                        const MatrixArg& a, const MatrixArg& b, void* c, int64_t ldc,
                                        const GemmEpilogueArgs& epilogue) {
  const StridedArg out = matrix_operand(c, dtype, ldc);
  StridedArg bias = out;
  bias.data = const_cast<void*>(epilogue.bias);
  bias.strides[0] = 0;  // every row reads the same bias
  backend.unary(UnaryOp::copy, matrix_loop(m, n), out, bias, OpScalars{});
  backend.gemm(dtype, m, n, k, alpha, a, b, 1.0, c, ldc, GemmEpilogueArgs{});
  if (epilogue.relu) relu_in_place(backend, dtype, m, n, c, ldc);
}

// GemmBatch's contract, checked by every backend: a count >= 0, strides >= 0, c's products apart.
inline void check_gemm_batch(const char* backend, const GemmBatch& batch, int64_t m, int64_t n, int64_t ldc) {
  TESSERA_CHECK(batch.count >= 0 && batch.stride_a >= 0 && batch.stride_b >= 0, backend, ": gemm: a batch of ",
                batch.count, " products with strides ", batch.stride_a, " and ", batch.stride_b);
  TESSERA_CHECK(batch.count <= 1 || m == 0 || n == 0 || batch.stride_c >= (m - 1) * ldc + n, backend,
                ": gemm: the batch's results overlap (stride ", batch.stride_c, " for ", m, " x ", n, ", ldc ", ldc,
                ")");
}

// The operands of product p of `batch`. One dtype for a, b and c: a batch with a wider c would need two element
// sizes here.
struct ProductOperands {
  MatrixArg a, b;
  void* c;
};
inline ProductOperands product_operands(DType dtype, const GemmBatch& batch, const MatrixArg& a, const MatrixArg& b,
                                        void* c, int64_t p) {
  const int64_t bytes = static_cast<int64_t>(element_size(dtype));
  ProductOperands o{a, b, static_cast<char*>(c) + p * batch.stride_c * bytes};
  o.a.data = static_cast<const char*>(a.data) + p * batch.stride_a * bytes;
  o.b.data = static_cast<const char*>(b.data) + p * batch.stride_b * bytes;
  return o;
}

// Calls f(a_p, b_p, c_p) for each product p of `batch`, in order (Backend::gemm_batched one product at a time: the
// CPU's way, and a GPU's for what cuBLASLt's strided batch refuses).
template <typename F>
void for_each_product(DType dtype, const GemmBatch& batch, const MatrixArg& a, const MatrixArg& b, void* c, F&& f) {
  for (int64_t p = 0; p < batch.count; ++p) {
    const ProductOperands o = product_operands(dtype, batch, a, b, c, p);
    f(o.a, o.b, o.c);
  }
}

}  // namespace tessera::kernels
