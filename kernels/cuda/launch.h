#pragma once
// Launch geometry shared by the CUDA kernels: 1-D grids over n elements with a grid-stride loop, so any n fits in
// a bounded grid (the grid never exceeds what keeps every SM busy; larger n loop inside the kernel).
#include <cstdint>

#include <cuda_runtime.h>

namespace tessera::kernels::cuda {

constexpr int kBlockSize = 256;
constexpr int64_t kMaxGridBlocks = 132 * 32;  // H200: 132 SMs, enough resident blocks to hide latency

inline unsigned grid_for(int64_t n, int block = kBlockSize) {
  const int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxGridBlocks ? kMaxGridBlocks : blocks));
}

// for (i = first index of this thread; i < n; i += total threads)
#define TESSERA_GRID_STRIDE_LOOP(i, n)                                                          \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);        \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace tessera::kernels::cuda
