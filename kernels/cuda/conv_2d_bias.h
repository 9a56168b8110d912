#pragma once
// A convolution's bias and its gradient, by our own kernels (conv_2d_bias.cu): cuDNN runs the convolution itself
// (conv_2d.cu). Apart from it so the CPU build of the backend (tests/support/cuda_on_cpu) runs these kernels too.
#include <cuda_runtime.h>

#include "kernels/common/dtype.h"
#include "kernels/conv_pool_args.h"

namespace tessera::kernels::cuda {

// y[:, c, :, :] += bias[c] over g's output (f32, f64, bf16, f16; bf16/f16 added in f32, rounded once); bias may be
// null. With `relu`, then y = relu(y) in the same pass (the elementwise ReLU's rule: a NaN stays).
void add_conv_bias(DType dtype, const Conv2dGeometry& g, void* y, const void* bias, bool relu, cudaStream_t stream);

// gb[c] = the sum of gy[:, c, :, :], in double and a fixed order (deterministic).
void conv_bias_grad(DType dtype, const Conv2dGeometry& g, const void* gy, void* gb, cudaStream_t stream);

}  // namespace tessera::kernels::cuda
