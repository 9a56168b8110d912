// CudaBackend::softmax and softmax_backward (and log-softmax) along n of an (outer, n, inner) tensor. Invariants:
//  - the CPU's formulas (kernels/cpu/softmax.cpp) in acc_t<T> (f32 for bf16/f16): the segment's max is subtracted
//    before exp (NaN inputs are ignored by the max and then poison their segment through the sum, as on the CPU);
//    softmax y = exp(x - max) * (1 / sum), log-softmax y = (x - max) - log(sum); each output rounds to T once;
//  - backward uses only the saved output: softmax gx = y * (g - sum(g * y)), log-softmax gx = g - exp(y) * sum(g);
//  - one kernel per call: a group (sub-warp lanes, a block, or a column tile's slices; block_reduce.cuh) owns a
//    whole segment, so the max and sums it broadcasts are the same in every lane and nothing is split across
//    blocks. Inputs are re-read per pass (from L1/L2) rather than held, so any n fits.
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_backend.h"

namespace tessera::kernels::cuda {

namespace {

using namespace reduction;

template <typename T, bool kLog>
struct SoftmaxForward {
  const T* x;
  T* y;
  template <typename G>
  __device__ void operator()(const G& group, const Segment& s) const {
    using A = acc_t<T>;
    const T* xs = x + s.offset;
    T* ys = y + s.offset;
    A mx = -std::numeric_limits<A>::infinity();
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width())
      mx = device_fmax(mx, static_cast<A>(xs[k * s.stride]));
    mx = group.reduce(mx, MaxIgnoringNaN{});
    A sum = 0;
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width())
      sum += device_exp(static_cast<A>(xs[k * s.stride]) - mx);
    sum = group.reduce(sum, Plus{});
    if constexpr (kLog) {
      const A log_sum = device_log(sum);
      for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width())
        ys[k * s.stride] = T((static_cast<A>(xs[k * s.stride]) - mx) - log_sum);
    } else {
      const A inv = A(1) / sum;
      for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width())
        ys[k * s.stride] = T(device_exp(static_cast<A>(xs[k * s.stride]) - mx) * inv);
    }
  }
};

template <typename T, bool kLog>
struct SoftmaxBackward {
  const T* y;
  const T* g;
  T* gx;
  template <typename G>
  __device__ void operator()(const G& group, const Segment& s) const {
    using A = acc_t<T>;
    const T* ys = y + s.offset;
    const T* gs = g + s.offset;
    T* out = gx + s.offset;
    A total = 0;  // sum(g) for log-softmax, sum(g * y) for softmax
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width()) {
      const int64_t i = k * s.stride;
      total += kLog ? static_cast<A>(gs[i]) : static_cast<A>(gs[i]) * static_cast<A>(ys[i]);
    }
    total = group.reduce(total, Plus{});
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width()) {
      const int64_t i = k * s.stride;
      if constexpr (kLog) out[i] = T(static_cast<A>(gs[i]) - device_exp(static_cast<A>(ys[i])) * total);
      else out[i] = T(static_cast<A>(ys[i]) * (static_cast<A>(gs[i]) - total));
    }
  }
};

template <typename Op>
void run_softmax(const Op& op, const ReduceShape& layout, cudaStream_t stream) {
  if (layout.outer * layout.n * layout.inner == 0) return;
  launch_segments(op, layout, plan_segments(layout, false), stream);
}

}  // namespace

void CudaBackend::softmax(const void* x, void* y, DType dtype, const ReduceShape& layout, bool log) {
  dispatch_floating(dtype, log ? "log_softmax" : "softmax", [&]<typename T>() {
    const T* xp = static_cast<const T*>(x);
    T* yp = static_cast<T*>(y);
    if (log) run_softmax(SoftmaxForward<T, true>{xp, yp}, layout, stream());
    else run_softmax(SoftmaxForward<T, false>{xp, yp}, layout, stream());
  });
}

void CudaBackend::softmax_backward(const void* y, const void* g, void* gx, DType dtype, const ReduceShape& layout,
                                   bool log) {
  dispatch_floating(dtype, log ? "log_softmax" : "softmax", [&]<typename T>() {
    const T* yp = static_cast<const T*>(y);
    const T* gp = static_cast<const T*>(g);
    T* gxp = static_cast<T*>(gx);
    if (log) run_softmax(SoftmaxBackward<T, true>{yp, gp, gxp}, layout, stream());
    else run_softmax(SoftmaxBackward<T, false>{yp, gp, gxp}, layout, stream());
  });
}

}  // namespace tessera::kernels::cuda
