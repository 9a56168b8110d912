// CudaBackend's batch_norm_stats, batch_norm and batch_norm_backward (the CPU's kernels/cpu/norm.cpp, formula for
// formula), over x as (N, C, S) = (layout.outer, layout.n, layout.inner). Invariants:
//  - the per-channel kernels (statistics, backward) give each channel one block: its N * S elements are visited
//    flat, so the block stays busy whether S is 1 (BatchNorm1d) or large; sums are in f64 as on the CPU and in an
//    order fixed by the launch shape (row_reduce.cuh), so reruns are bitwise equal. The backward's second pass
//    (gx) runs in the same block right after its channel's sums: one launch;
//  - apply is elementwise; invstd, scale and shift are per-channel f64 values the CPU computes on the host. Each
//    block computes them into shared memory first (a few channels per thread, cheap next to the elements), so the
//    element loop does no f64 division or square root; past kCachedChannels they are computed per element;
//  - element formulas round in T where the CPU does, so results agree to the f64 sums' order (and FMA
//    contraction).
#include <algorithm>

#include "kernels/common/dtype_dispatch.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/row_reduce.cuh"

namespace tessera::kernels::cuda {

namespace {

constexpr int kChannelThreads = 512;
constexpr int64_t kCachedChannels = 2048;  // 2 x 2048 doubles = 32 KB of shared memory

unsigned channel_blocks(const ReduceShape& l) {
  return static_cast<unsigned>(std::clamp<int64_t>(l.n, 1, kMaxGridBlocks));
}

// f(at) for every element of channel c: flat k over (N, S), split into (o, j).
template <typename F>
__device__ __forceinline__ void for_channel_elements(const ReduceShape& l, int64_t c, F&& f) {
  const int64_t count = l.outer * l.inner;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t o = k / l.inner, j = k - o * l.inner;
    f((o * l.n + c) * l.inner + j);
  }
}

template <typename T>
__global__ void __launch_bounds__(kChannelThreads)
    channel_stats_kernel(const T* x, ReduceShape l, double* mean, double* var, double* unbiased_var) {
  __shared__ double scratch[kMaxWarps];
  const double count = static_cast<double>(l.outer * l.inner);
  for (int64_t c = blockIdx.x; c < l.n; c += gridDim.x) {
    double sum[1] = {0.0};
    for_channel_elements(l, c, [&](int64_t at) { sum[0] += static_cast<double>(x[at]); });
    block_sums(sum, scratch);
    const double m = sum[0] / count;
    double sq[1] = {0.0};
    for_channel_elements(l, c, [&](int64_t at) {
      const double dev = static_cast<double>(x[at]) - m;
      sq[0] += dev * dev;
    });
    block_sums(sq, scratch);
    if (threadIdx.x == 0) {
      mean[c] = m;
      unbiased_var[c] = sq[0] / (count - 1);
      var[c] = sq[0] / count;
    }
  }
}

struct AffineArgs {
  const double* mean;
  const double* var;
  const double* weight;  // may be null (1)
  const double* bias;    // may be null (0)
  double eps;
  double* invstd;
};

__device__ __forceinline__ double invstd_of(const AffineArgs& a, int64_t c) { return 1.0 / sqrt(a.var[c] + a.eps); }

// scale = invstd * weight, shift = bias - mean * scale.
__device__ __forceinline__ void affine_of(const AffineArgs& a, int64_t c, double& scale, double& shift) {
  scale = invstd_of(a, c) * (a.weight ? a.weight[c] : 1.0);
  shift = (a.bias ? a.bias[c] : 0.0) - a.mean[c] * scale;
}

// y = x * T(scale[c]) + T(shift[c]); also writes invstd. kCached: scale and shift of every channel in shared
// memory ([0, C) scales, [C, 2C) shifts; 2 * C doubles of dynamic shared memory).
template <typename T, bool kCached>
__global__ void batch_norm_apply_kernel(const T* x, T* y, ReduceShape l, AffineArgs a) {
  extern __shared__ double affine[];
  const int64_t threads = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t self = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t c = self; c < l.n; c += threads) a.invstd[c] = invstd_of(a, c);
  if constexpr (kCached) {
    for (int64_t c = threadIdx.x; c < l.n; c += blockDim.x) affine_of(a, c, affine[c], affine[l.n + c]);
    __syncthreads();
  }
  const int64_t n = l.outer * l.n * l.inner;
  TESSERA_GRID_STRIDE_LOOP(i, n) {
    const int64_t c = (i / l.inner) % l.n;
    double scale, shift;
    if constexpr (kCached) {
      scale = affine[c];
      shift = affine[l.n + c];
    } else {
      affine_of(a, c, scale, shift);
    }
    y[i] = x[i] * static_cast<T>(scale) + static_cast<T>(shift);
  }
}

// Per channel: sum_gy = sum gy, sum_gy_xhat = invstd * sum gy (x - mean); then, if gx is wanted,
// training: gx = k (gy - sum_gy / m - xhat sum_gy_xhat / m) with k = weight * invstd, m = N * S; eval: gx = k gy.
template <typename T>
__global__ void __launch_bounds__(kChannelThreads)
    batch_norm_backward_kernel(const T* x, const T* gy, T* gx, ReduceShape l, const double* weight,
                               const double* mean, const double* invstd, bool training, double* sum_gy,
                               double* sum_gy_xhat) {
  __shared__ double scratch[2 * kMaxWarps];
  const double m = static_cast<double>(l.outer * l.inner);
  for (int64_t c = blockIdx.x; c < l.n; c += gridDim.x) {
    const double mc = mean[c];
    double sums[2] = {0.0, 0.0};
    for_channel_elements(l, c, [&](int64_t at) {
      const double g = static_cast<double>(gy[at]);
      sums[0] += g;
      sums[1] += g * (static_cast<double>(x[at]) - mc);
    });
    block_sums(sums, scratch);
    const double is = invstd[c];
    const double gxhat = sums[1] * is;
    if (threadIdx.x == 0) {
      sum_gy[c] = sums[0];
      sum_gy_xhat[c] = gxhat;
    }
    if (gx == nullptr) continue;
    const double k = (weight ? weight[c] : 1.0) * is;
    const T gk = static_cast<T>(k);
    const T shift = training ? static_cast<T>(-k * sums[0] / m) : T(0);
    const T xk = training ? static_cast<T>(-k * gxhat / m * is) : T(0);
    const T tm = static_cast<T>(mc);
    for_channel_elements(l, c, [&](int64_t at) { gx[at] = gk * gy[at] + shift + xk * (x[at] - tm); });
  }
}

}  // namespace

void CudaBackend::batch_norm_stats(const void* x, DType dtype, const ReduceShape& layout, double* mean, double* var,
                                   double* unbiased_var) {
  dispatch_f32_f64(dtype, "batch_norm", [&]<typename T>() {
    if (layout.n == 0) return;
    channel_stats_kernel<T><<<channel_blocks(layout), kChannelThreads, 0, stream()>>>(
        static_cast<const T*>(x), layout, mean, var, unbiased_var);
    TESSERA_CUDA_CHECK_LAUNCH(channel_stats_kernel);
  });
}

void CudaBackend::batch_norm(const void* x, void* y, DType dtype, const ReduceShape& layout, const double* mean,
                             const double* var, const double* weight, const double* bias, double eps,
                             double* invstd) {
  dispatch_f32_f64(dtype, "batch_norm", [&]<typename T>() {
    if (layout.n == 0) return;
    const AffineArgs args{mean, var, weight, bias, eps, invstd};
    // At least enough threads to write every channel's invstd, even when there are no elements.
    const int64_t n = std::max(layout.outer * layout.n * layout.inner, layout.n);
    const unsigned blocks = grid_for(n);
    const auto xs = static_cast<const T*>(x);
    const auto ys = static_cast<T*>(y);
    if (layout.n <= kCachedChannels) {
      const size_t shared = 2 * static_cast<size_t>(layout.n) * sizeof(double);
      batch_norm_apply_kernel<T, true><<<blocks, kBlockSize, shared, stream()>>>(xs, ys, layout, args);
    } else {
      batch_norm_apply_kernel<T, false><<<blocks, kBlockSize, 0, stream()>>>(xs, ys, layout, args);
    }
    TESSERA_CUDA_CHECK_LAUNCH(batch_norm_apply_kernel);
  });
}

void CudaBackend::batch_norm_backward(const void* x, const void* gy, void* gx, DType dtype, const ReduceShape& layout,
                                      const double* weight, const double* mean, const double* invstd, bool training,
                                      double* sum_gy, double* sum_gy_xhat) {
  dispatch_f32_f64(dtype, "batch_norm backward", [&]<typename T>() {
    if (layout.n == 0) return;
    batch_norm_backward_kernel<T><<<channel_blocks(layout), kChannelThreads, 0, stream()>>>(
        static_cast<const T*>(x), static_cast<const T*>(gy), static_cast<T*>(gx), layout, weight, mean, invstd,
        training, sum_gy, sum_gy_xhat);
    TESSERA_CUDA_CHECK_LAUNCH(batch_norm_backward_kernel);
  });
}

}  // namespace tessera::kernels::cuda
