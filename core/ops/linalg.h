#pragma once
// Matrix products through BLAS (OpenBLAS sgemm/dgemm; bf16/f16 computed in f32).
#include "core/tensor.h"

namespace tessera {

Tensor mm(const Tensor& a, const Tensor& b);      // (n,k) @ (k,m)
Tensor bmm(const Tensor& a, const Tensor& b);     // (B,n,k) @ (B,k,m)
// torch.matmul semantics: 1-D vectors, 2-D matrices, batched with broadcasting of batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
// x (..., in) @ weight(out, in)^T + bias(out), as torch.nn.functional.linear. bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// relu(linear(x, weight, bias)) in one GEMM whose epilogue adds the bias and clamps (nn::Sequential uses it for a
// Linear followed by a ReLU). Same values and gradients as the two ops.
Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace tessera
