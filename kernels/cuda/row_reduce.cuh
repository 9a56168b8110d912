#pragma once
// Cooperative sums for the row kernels of layer_norm.cu and the channel kernels of batch_norm.cu. Invariants:
//  - a group is one warp (RowGroup<true>: a row per warp, for short rows) or the whole block (RowGroup<false>: a
//    row per block); every thread of the group gets the same total, so any of them may use it;
//  - the order of additions depends on the launch shape only (an xor butterfly within a warp, then the warps'
//    partials in warp order), never on timing: a rerun gives bitwise the same result. IEEE addition commutes, so
//    the two lanes of each butterfly step hold the same bits and the whole warp agrees;
//  - block sums use blockDim.x threads, a multiple of 32 and at most kMaxBlockThreads, and end with a barrier so
//    the scratch can be reused by the next call at once. Every thread of the block must call them.
#include <cstdint>

#include <cuda_runtime.h>

namespace tessera::kernels::cuda {

constexpr int kWarpSize = 32;
constexpr int kMaxBlockThreads = 1024;
constexpr int kMaxWarps = kMaxBlockThreads / kWarpSize;

template <int K, typename A>
__device__ __forceinline__ void warp_sums(A (&v)[K]) {
#pragma unroll
  for (int k = 0; k < K; ++k)
#pragma unroll
    for (int s = kWarpSize / 2; s > 0; s >>= 1) v[k] += __shfl_xor_sync(0xffffffffu, v[k], s);
}

// scratch: K * kMaxWarps values of shared memory.
template <int K, typename A>
__device__ __forceinline__ void block_sums(A (&v)[K], A* scratch) {
  warp_sums(v);
  const int warp = threadIdx.x / kWarpSize, warps = blockDim.x / kWarpSize;
  if (threadIdx.x % kWarpSize == 0)
#pragma unroll
    for (int k = 0; k < K; ++k) scratch[k * kMaxWarps + warp] = v[k];
  __syncthreads();
#pragma unroll
  for (int k = 0; k < K; ++k) {
    A total = 0;
    for (int w = 0; w < warps; ++w) total += scratch[k * kMaxWarps + w];
    v[k] = total;
  }
  __syncthreads();
}

// The threads that share one row: a warp per row (kWarpPerRow) or the block per row. Rows are visited with a
// grid-stride loop over `row_blocks` blocks, so the loop bounds are uniform over the group.
template <bool kWarpPerRow>
struct RowGroup {
  int64_t row_blocks;  // blocks taking part (a kernel may give the rest of its grid other work)

  __device__ int64_t lane() const { return kWarpPerRow ? threadIdx.x % kWarpSize : threadIdx.x; }
  __device__ int64_t size() const { return kWarpPerRow ? kWarpSize : blockDim.x; }
  __device__ int64_t first_row() const {
    return kWarpPerRow ? static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarpSize) + threadIdx.x / kWarpSize
                       : static_cast<int64_t>(blockIdx.x);
  }
  __device__ int64_t row_step() const { return kWarpPerRow ? row_blocks * (blockDim.x / kWarpSize) : row_blocks; }
  template <int K, typename A>
  __device__ void sum(A (&v)[K], A* scratch) const {
    if constexpr (kWarpPerRow) warp_sums(v);
    else block_sums(v, scratch);
  }
};

}  // namespace tessera::kernels::cuda
