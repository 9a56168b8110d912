// CudaBackend's layer_norm and layer_norm_backward (the CPU's kernels/cpu/norm.cpp, formula for formula).
// Invariants:
//  - a row is reduced by one warp when d <= kWarpRowMaxD (short rows: eight rows per block, no barriers) or by a
//    whole block otherwise; statistics and the backward's row sums accumulate in f64 as on the CPU, and the element
//    formulas round in T where the CPU does, so results agree to the order of the f64 sums (and FMA contraction);
//  - the row sums' order depends only on the launch shape (row_reduce.cuh), so reruns are bitwise equal;
//  - backward is one launch: the first blocks compute gx row by row, the others sum the parameter gradients down
//    columns (a 32-column tile and a chunk of rows per block). Every column is owned by one block per chunk, so no
//    float atomics: with one chunk the blocks add straight into gweight/gbias, with several they store per-chunk
//    partials that a second small kernel adds in chunk order (deterministic too). Many rows split into chunks so
//    the column work fills the GPU even when d is small.
#include <algorithm>

#include "kernels/common/dtype_dispatch.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/row_reduce.cuh"

namespace tessera::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kWarpRowMaxD = 1024;          // longer rows get a block each
constexpr int kRowLanes = kThreads / kWarpSize;  // rows a column block walks at once
constexpr int64_t kMinChunkRows = 64;            // fewer rows per chunk would not pay for the partials
constexpr int64_t kTargetColumnBlocks = 1024;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Calls f.template operator()<kWarpPerRow>() for rows of length d.
template <typename F>
void with_row_group(int64_t d, F&& f) {
  if (d <= kWarpRowMaxD) f.template operator()<true>();
  else f.template operator()<false>();
}

int64_t row_blocks_for(int64_t rows, bool warp_per_row) {
  return std::clamp<int64_t>(ceil_div(rows, warp_per_row ? kThreads / kWarpSize : 1), 1, kMaxGridBlocks);
}

template <typename T, bool kWarpPerRow>
__global__ void __launch_bounds__(kThreads)
    layer_norm_kernel(const T* x, const T* w, const T* b, T* y, double* mean, double* rstd, int64_t rows, int64_t d,
                      double eps, RowGroup<kWarpPerRow> group) {
  __shared__ double scratch[kMaxWarps];
  for (int64_t r = group.first_row(); r < rows; r += group.row_step()) {
    const T* xr = x + r * d;
    double sum[1] = {0.0};
    for (int64_t j = group.lane(); j < d; j += group.size()) sum[0] += static_cast<double>(xr[j]);
    group.sum(sum, scratch);
    const double m = sum[0] / static_cast<double>(d);
    double sq[1] = {0.0};
    for (int64_t j = group.lane(); j < d; j += group.size()) {
      const double c = static_cast<double>(xr[j]) - m;
      sq[0] += c * c;
    }
    group.sum(sq, scratch);
    const double rs = 1.0 / sqrt(sq[0] / static_cast<double>(d) + eps);
    if (group.lane() == 0) {
      mean[r] = m;
      rstd[r] = rs;
    }
    const T tm = static_cast<T>(m), ts = static_cast<T>(rs);
    T* yr = y + r * d;
    for (int64_t j = group.lane(); j < d; j += group.size()) {
      const T xhat = (xr[j] - tm) * ts;
      yr[j] = (w ? xhat * w[j] : xhat) + (b ? b[j] : T(0));
    }
  }
}

template <typename T>
struct BackwardArgs {
  const T* x;
  const T* w;  // may be null
  const T* gy;
  const double* mean;
  const double* rstd;
  T* gx;       // may be null
  double* gw;  // may be null
  double* gb;  // may be null
  int64_t rows, d;
};

// The parameter-gradient half of the backward launch: tiles x chunks blocks after the row blocks.
struct ColumnPlan {
  int64_t tiles = 0;  // of kWarpSize columns
  int64_t chunks = 1;
  int64_t rows_per_chunk = 0;
  double* partial = nullptr;  // [2][chunks][d] (gweight's, then gbias's) when chunks > 1; else null
};

ColumnPlan plan_columns(int64_t rows, int64_t d) {
  ColumnPlan plan;
  plan.tiles = ceil_div(d, kWarpSize);
  const int64_t max_chunks = std::max<int64_t>(1, rows / kMinChunkRows);
  plan.chunks = std::clamp<int64_t>(kTargetColumnBlocks / plan.tiles, 1, max_chunks);
  plan.rows_per_chunk = ceil_div(rows, plan.chunks);
  plan.chunks = ceil_div(rows, plan.rows_per_chunk);
  return plan;
}

// gx for the rows of this group (the CPU's formula: gx = rstd (gxhat - mean(gxhat) - xhat mean(gxhat xhat))).
template <typename T, bool kWarpPerRow>
__device__ void input_gradient_rows(const BackwardArgs<T>& a, const RowGroup<kWarpPerRow>& group, double* scratch) {
  const int64_t d = a.d;
  for (int64_t r = group.first_row(); r < a.rows; r += group.row_step()) {
    const T* xr = a.x + r * d;
    const T* gr = a.gy + r * d;
    const double md = a.mean[r], rd = a.rstd[r];
    double sums[2] = {0.0, 0.0};  // sum gxhat, sum gxhat xhat
    for (int64_t j = group.lane(); j < d; j += group.size()) {
      const double g = a.w ? static_cast<double>(gr[j]) * static_cast<double>(a.w[j]) : static_cast<double>(gr[j]);
      sums[0] += g;
      sums[1] += g * ((static_cast<double>(xr[j]) - md) * rd);
    }
    group.sum(sums, scratch);
    const T ta = static_cast<T>(sums[0] / static_cast<double>(d)), tc = static_cast<T>(sums[1] / static_cast<double>(d));
    const T tm = static_cast<T>(md), ts = static_cast<T>(rd);
    T* o = a.gx + r * d;
    for (int64_t j = group.lane(); j < d; j += group.size()) {
      const T g = a.w ? gr[j] * a.w[j] : gr[j];
      o[j] = ts * (g - ta - (xr[j] - tm) * ts * tc);
    }
  }
}

// gweight and gbias of one 32-column tile over one chunk of rows: kRowLanes rows at a time (a warp reads 32
// consecutive elements of a row), then the lanes' sums combined in lane order through shared memory.
template <typename T>
__device__ void parameter_gradient_columns(const BackwardArgs<T>& a, const ColumnPlan& plan, int64_t block,
                                           double* shared /* 2 * kThreads */) {
  const int64_t tile = block % plan.tiles, chunk = block / plan.tiles;
  const int tx = threadIdx.x % kWarpSize, ty = threadIdx.x / kWarpSize;
  const int64_t j = tile * kWarpSize + tx;
  const int64_t begin = chunk * plan.rows_per_chunk, end = std::min(a.rows, begin + plan.rows_per_chunk);
  double pw = 0.0, pb = 0.0;
  if (j < a.d) {
    for (int64_t r = begin + ty; r < end; r += kRowLanes) {
      const T g = a.gy[r * a.d + j];
      if (a.gw) {
        const T xhat = (a.x[r * a.d + j] - static_cast<T>(a.mean[r])) * static_cast<T>(a.rstd[r]);
        pw += static_cast<double>(g) * static_cast<double>(xhat);
      }
      pb += static_cast<double>(g);
    }
  }
  shared[ty * kWarpSize + tx] = pw;
  shared[kThreads + ty * kWarpSize + tx] = pb;
  __syncthreads();
  if (ty != 0 || j >= a.d) return;
  double w = 0.0, b = 0.0;
  for (int k = 0; k < kRowLanes; ++k) {
    w += shared[k * kWarpSize + tx];
    b += shared[kThreads + k * kWarpSize + tx];
  }
  if (plan.partial) {
    plan.partial[chunk * a.d + j] = w;
    plan.partial[(plan.chunks + chunk) * a.d + j] = b;
  } else {
    if (a.gw) a.gw[j] += w;
    if (a.gb) a.gb[j] += b;
  }
}

// Blocks [0, group.row_blocks) compute gx; the next plan.tiles * plan.chunks blocks the parameter gradients.
template <typename T, bool kWarpPerRow>
__global__ void __launch_bounds__(kThreads)
    layer_norm_backward_kernel(BackwardArgs<T> a, RowGroup<kWarpPerRow> group, ColumnPlan plan) {
  __shared__ double shared[2 * kThreads];
  if (blockIdx.x < group.row_blocks) input_gradient_rows(a, group, shared);
  else parameter_gradient_columns(a, plan, static_cast<int64_t>(blockIdx.x) - group.row_blocks, shared);
}

// gw[j] += sum over chunks of partial[0][c][j] in chunk order; gb likewise from partial[1].
__global__ void add_column_partials(const double* partial, int64_t chunks, int64_t d, double* gw, double* gb) {
  TESSERA_GRID_STRIDE_LOOP(j, d) {
    double w = 0.0, b = 0.0;
    for (int64_t c = 0; c < chunks; ++c) {
      w += partial[c * d + j];
      b += partial[(chunks + c) * d + j];
    }
    if (gw) gw[j] += w;
    if (gb) gb[j] += b;
  }
}

}  // namespace

void CudaBackend::layer_norm(const void* x, const void* weight, const void* bias, void* y, double* mean, double* rstd,
                             DType dtype, int64_t rows, int64_t d, double eps) {
  dispatch_f32_f64(dtype, "layer_norm", [&]<typename T>() {
    if (rows == 0) return;
    with_row_group(d, [&]<bool kWarpPerRow>() {
      const int64_t blocks = row_blocks_for(rows, kWarpPerRow);
      layer_norm_kernel<T, kWarpPerRow><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
          static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias), static_cast<T*>(y),
          mean, rstd, rows, d, eps, RowGroup<kWarpPerRow>{blocks});
      TESSERA_CUDA_CHECK_LAUNCH(layer_norm_kernel);
    });
  });
}

void CudaBackend::layer_norm_backward(const void* x, const void* weight, const void* gy, const double* mean,
                                      const double* rstd, void* gx, double* gweight, double* gbias, DType dtype,
                                      int64_t rows, int64_t d) {
  dispatch_f32_f64(dtype, "layer_norm backward", [&]<typename T>() {
    const bool params = gweight != nullptr || gbias != nullptr;
    if (rows == 0 || d == 0 || (gx == nullptr && !params)) return;
    const BackwardArgs<T> args{static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(gy),
                               mean, rstd, static_cast<T*>(gx), gweight, gbias, rows, d};
    ColumnPlan plan;
    if (params) plan = plan_columns(rows, d);
    const size_t partial_bytes = plan.chunks > 1 ? static_cast<size_t>(2 * plan.chunks * d) * sizeof(double) : 0;
    if (partial_bytes) plan.partial = static_cast<double*>(allocate(partial_bytes));
    with_row_group(d, [&]<bool kWarpPerRow>() {
      const int64_t row_blocks = gx ? row_blocks_for(rows, kWarpPerRow) : 0;
      const int64_t blocks = row_blocks + (params ? plan.tiles * plan.chunks : 0);
      layer_norm_backward_kernel<T, kWarpPerRow><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
          args, RowGroup<kWarpPerRow>{row_blocks}, plan);
      TESSERA_CUDA_CHECK_LAUNCH(layer_norm_backward_kernel);
    });
    if (partial_bytes) {
      add_column_partials<<<grid_for(d), kBlockSize, 0, stream()>>>(plan.partial, plan.chunks, d, gweight, gbias);
      TESSERA_CUDA_CHECK_LAUNCH(add_column_partials);
      deallocate(plan.partial, partial_bytes);  // stream-ordered: reused only by work queued after these kernels
    }
  });
}

}  // namespace tessera::kernels::cuda
