// The convolution's bias kernels (conv_2d_bias.h). Invariants:
//  - the bias gradient is one block per channel, summing in double in a fixed order, then a tree over the block:
//    deterministic, and as precise as the CPU's double accumulation;
//  - empty outputs launch nothing (a grid of 0 blocks is an error on a GPU).
#include "kernels/cuda/conv_2d_bias.h"

#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/elementwise_ops.h"

namespace tessera::kernels::cuda {

namespace {

template <typename T>
__global__ void add_bias_kernel(T* y, const T* bias, bool relu, int64_t count, int64_t channels, int64_t plane) {
  using A = acc_t<T>;  // bf16/f16: added in f32, rounded once
  TESSERA_GRID_STRIDE_LOOP(i, count) {
    A v = static_cast<A>(y[i]);
    if (bias != nullptr) v = static_cast<A>(static_cast<T>(v + static_cast<A>(bias[(i / plane) % channels])));
    // Clamped after rounding, as a separate ReLU would (a sum that rounds to -0 stays -0, which relu keeps).
    y[i] = static_cast<T>(relu ? ops::relu_value(v) : v);
  }
}

// gb[c] = sum of gy[:, c, :, :]: block c reduces its channel in double, in a fixed order.
template <typename T>
__global__ void bias_grad_kernel(const T* gy, T* gb, int64_t batch, int64_t channels, int64_t plane) {
  __shared__ double partial[kBlockSize];
  const int64_t c = blockIdx.x;
  double acc = 0.0;
  for (int64_t e = threadIdx.x; e < batch * plane; e += blockDim.x)
    acc += static_cast<double>(static_cast<acc_t<T>>(gy[((e / plane) * channels + c) * plane + e % plane]));
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) gb[c] = static_cast<T>(static_cast<acc_t<T>>(partial[0]));
}

int64_t output_plane(const Conv2dGeometry& g) { return (g.out_h > 0 ? g.out_h : 0) * (g.out_w > 0 ? g.out_w : 0); }

}  // namespace

void add_conv_bias(DType dtype, const Conv2dGeometry& g, void* y, const void* bias, bool relu, cudaStream_t stream) {
  const int64_t plane = output_plane(g), count = g.batch * g.out_channels * plane;
  if (count <= 0) return;
  dispatch_floating(dtype, "conv2d", [&]<typename T>() {
    add_bias_kernel<T><<<grid_for(count), kBlockSize, 0, stream>>>(static_cast<T*>(y), static_cast<const T*>(bias),
                                                                   relu, count, g.out_channels, plane);
    TESSERA_CUDA_CHECK_LAUNCH("add_bias_kernel");
  });
}

void conv_bias_grad(DType dtype, const Conv2dGeometry& g, const void* gy, void* gb, cudaStream_t stream) {
  if (g.out_channels <= 0) return;
  dispatch_floating(dtype, "conv2d backward", [&]<typename T>() {
    bias_grad_kernel<T><<<static_cast<unsigned>(g.out_channels), kBlockSize, 0, stream>>>(
        static_cast<const T*>(gy), static_cast<T*>(gb), g.batch, g.out_channels, output_plane(g));
    TESSERA_CUDA_CHECK_LAUNCH("bias_grad_kernel");
  });
}

}  // namespace tessera::kernels::cuda
