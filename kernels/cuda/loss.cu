// CudaBackend's loss entries: the class-target check, fused cross-entropy (log-softmax + NLL + label smoothing),
// NLL, MSE, their backwards and the loss sum. Invariants:
//  - the CPU's formulas term for term (kernels/cpu/loss.cpp): cross-entropy from shifted logits z = x - max,
//    loss = log(sum exp z) - (1 - eps) z_t - (eps / C) sum z, probs saved so backward is one elementwise pass
//    dL/dx_c = scale (p_c - eps / C) - scale (1 - eps) [c == t]; ignored targets give 0 loss and 0 gradient;
//  - targets were checked by check_class_targets before any loss kernel reads them, so indexing by a target is in
//    bounds; the check itself reports the minimum bad position and, like the CPU's loop that stops there, counts
//    the ignored targets before it only. It is atomics-free: block b scans its own contiguous chunk (first bad,
//    ignored before it), and a second kernel (only for more than one chunk) takes the first bad over the chunks and
//    sums the ignored counts of the chunks that start at or before it; so no memset or initialised counter;
//  - the upstream gradient's scalar (LossGrad::data, a device pointer) is read inside the kernels, never by the
//    host; sums over losses accumulate in f64 in a deterministic tree (block_reduce.cuh), 0 / 0 giving NaN;
//  - one kernel per entry (two for a split sum over very many losses).
#include <type_traits>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/elementwise_ops.h"

namespace tessera::kernels::cuda {

namespace {

using namespace reduction;
using LossGrad = Backend::LossGrad;

// The upstream gradient per loss element r: one value each, or the scalar (read here, on the device) / divisor.
template <typename T>
struct Upstream {
  const T* data;
  bool per_element;
  double divisor;
  __device__ acc_t<T> at(int64_t r) const {
    if (per_element) return static_cast<acc_t<T>>(data[r]);
    const double v = ops::convert<double>(data[0]);
    return static_cast<acc_t<T>>(divisor == 1.0 ? v : v / divisor);
  }
};

template <typename T>
Upstream<T> upstream(const LossGrad& grad) {
  return {static_cast<const T*>(grad.data), grad.per_element, grad.divisor};
}

// f32 and f64 only: core computes bf16/f16 logits in f32.
template <typename F>
void dispatch_f32_f64(DType dtype, const char* op, F&& f) {
  dispatch_floating(dtype, op, [&]<typename T>() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) f.template operator()<T>();
    else TESSERA_THROW(op, ": expected f32 or f64, got ", dtype_name(dtype));
  });
}

// --- class-target check

struct TargetScan {
  int64_t bad;      // the first bad position (n when none)
  int64_t ignored;  // ignore_index targets before it
};

constexpr int64_t kTargetChunk = 16384;  // targets per block

__device__ void write_target_result(int64_t* result, const int64_t* target, int64_t n, const TargetScan& scan) {
  result[0] = n - scan.ignored;
  result[1] = scan.bad < n ? scan.bad : -1;
  result[2] = scan.bad < n ? target[scan.bad] : 0;
}

// Block b scans [b * chunk, (b + 1) * chunk): its result when it is the only block, else its partial.
__global__ void __launch_bounds__(kBlockSize)
    check_targets_kernel(const int64_t* target, int64_t n, int64_t classes, int64_t ignore_index, int64_t chunk,
                         TargetScan* partials, int64_t* result) {
  __shared__ __align__(16) unsigned char smem[kSharedBytes];
  const BlockGroup group{smem};
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * chunk;
  const int64_t end = begin + chunk < n ? begin + chunk : n;
  int64_t bad = n;
  for (int64_t k = begin + group.lane(); k < end; k += group.width()) {
    const int64_t v = target[k];
    if (static_cast<uint64_t>(v) >= static_cast<uint64_t>(classes) && v != ignore_index) {
      bad = k;  // this thread's first; later ones are larger
      break;
    }
  }
  bad = group.reduce(bad, Min{});
  const int64_t stop = bad < end ? bad : end;
  int64_t ignored = 0;
  for (int64_t k = begin + group.lane(); k < stop; k += group.width()) ignored += target[k] == ignore_index;
  ignored = group.reduce(ignored, Plus{});
  if (!group.leader()) return;
  if (partials) partials[blockIdx.x] = {bad, ignored};
  else write_target_result(result, target, n, {bad, ignored});
}

__global__ void __launch_bounds__(kBlockSize)
    finish_target_check_kernel(const TargetScan* partials, int64_t blocks, int64_t chunk, const int64_t* target,
                               int64_t n, int64_t* result) {
  __shared__ __align__(16) unsigned char smem[kSharedBytes];
  const BlockGroup group{smem};
  int64_t bad = n;
  for (int64_t b = group.lane(); b < blocks; b += group.width()) bad = Min{}(bad, partials[b].bad);
  bad = group.reduce(bad, Min{});
  int64_t ignored = 0;  // chunks before the first bad one hold no bad target: all their ignored ones count
  for (int64_t b = group.lane(); b < blocks; b += group.width())
    if (b * chunk <= bad) ignored += partials[b].ignored;
  ignored = group.reduce(ignored, Plus{});
  if (group.leader()) write_target_result(result, target, n, {bad, ignored});
}

// --- cross-entropy

template <typename T>
struct CrossEntropyForward {
  const T* x;
  const int64_t* target;
  T* probs;
  T* losses;
  int64_t classes;
  int64_t ignore_index;
  double eps;
  template <typename G>
  __device__ void operator()(const G& group, const Segment& s) const {
    const T* xs = x + s.offset;
    T* ps = probs + s.offset;
    T mx = -std::numeric_limits<T>::infinity();
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width()) mx = device_fmax(mx, xs[k * s.stride]);
    mx = group.reduce(mx, MaxIgnoringNaN{});
    T sum = 0, sum_x = 0;
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width()) {
      const T v = xs[k * s.stride];
      sum += device_exp(v - mx);
      sum_x += v;
    }
    sum = group.reduce(sum, Plus{});
    if (eps != 0.0) sum_x = group.reduce(sum_x, Plus{});  // uniform branch: every thread reduces or none
    const T inv = T(1) / sum;
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width())
      ps[k * s.stride] = device_exp(xs[k * s.stride] - mx) * inv;
    if (!group.leader() || !s.active) return;
    const int64_t t = target[s.out];
    if (t == ignore_index) {
      losses[s.out] = T(0);
      return;
    }
    const T e = static_cast<T>(eps);
    T loss = device_log(sum) - (T(1) - e) * (xs[t * s.stride] - mx);
    if (eps != 0.0) loss -= e / static_cast<T>(classes) * (sum_x - static_cast<T>(classes) * mx);
    losses[s.out] = loss;
  }
};

template <typename T>
struct CrossEntropyBackward {
  const T* probs;
  const int64_t* target;
  Upstream<T> up;
  T* gx;
  int64_t n, inner, ignore_index;
  T off;   // eps / C
  T keep;  // 1 - eps
  __device__ void operator()(int64_t i) const {
    const int64_t span = n * inner;
    const int64_t o = i / span, rem = i - o * span;
    const int64_t c = rem / inner, j = rem - c * inner;
    const int64_t r = o * inner + j;
    const int64_t t = target[r];
    if (t == ignore_index) {
      gx[i] = T(0);
      return;
    }
    const T scale = up.at(r);
    T v = scale * (probs[i] - off);
    if (c == t) v -= scale * keep;
    gx[i] = v;
  }
};

// --- NLL on log-probabilities: loss element r = (o, j) reads class t at (o * n + t) * inner + j

template <typename T>
struct NllForward {
  const T* log_probs;
  const int64_t* target;
  T* losses;
  int64_t n, inner, ignore_index;
  __device__ void operator()(int64_t r) const {
    const int64_t t = target[r];
    const int64_t o = r / inner, j = r - o * inner;
    losses[r] = t == ignore_index ? T(0.0f) : T(-static_cast<acc_t<T>>(log_probs[(o * n + t) * inner + j]));
  }
};

template <typename T>
struct NllBackward {
  const int64_t* target;
  Upstream<T> up;
  T* gx;
  int64_t n, inner, ignore_index;
  __device__ void operator()(int64_t r) const {
    const int64_t t = target[r];
    if (t == ignore_index) return;
    const int64_t o = r / inner, j = r - o * inner;
    gx[(o * n + t) * inner + j] = T(-up.at(r));
  }
};

// --- sums of losses and MSE

template <typename T>
struct StoreScaled {  // *out = total / divisor (0 / 0 is NaN)
  T* out;
  double divisor;
  __device__ void operator()(int64_t, double total) const {
    if (divisor != 1.0) total /= divisor;
    *out = ops::from_double<T>(total);
  }
};

template <typename T>
struct MseElementwise {
  const T* a;
  const T* b;
  T* diff;
  T* squares;
  __device__ void operator()(int64_t i) const {
    using A = acc_t<T>;
    const A d = static_cast<A>(a[i]) - static_cast<A>(b[i]);
    diff[i] = T(d);
    squares[i] = T(d * d);
  }
};

// diff written while the squares are summed in f64 (a single segment of n, possibly split into chunks).
template <typename T>
struct MseTotalTask {
  using Acc = double;
  const T* a;
  const T* b;
  T* diff;
  StoreScaled<T> total;
  __device__ Acc identity() const { return 0.0; }
  __device__ Acc combine(Acc x, Acc y) const { return x + y; }
  template <typename G>
  __device__ Acc reduce(const G& group, const Segment& s) const {
    using A = acc_t<T>;
    double sum = 0.0;
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width()) {
      const int64_t i = s.offset + k * s.stride;
      const A d = static_cast<A>(a[i]) - static_cast<A>(b[i]);
      diff[i] = T(d);
      sum += static_cast<double>(d) * static_cast<double>(d);
    }
    return group.reduce(sum, Plus{});
  }
  __device__ void store(int64_t out, Acc acc) const { total(out, acc); }
};

template <typename T>
struct MseBackward {
  const T* diff;
  Upstream<T> up;
  T* gx;
  __device__ void operator()(int64_t i) const {
    using A = acc_t<T>;
    gx[i] = T(A(2) * static_cast<A>(diff[i]) * up.at(i));
  }
};

}  // namespace

void CudaBackend::check_class_targets(const int64_t* target, int64_t n, int64_t classes, int64_t ignore_index,
                                      int64_t* result) {
  const cudaStream_t s = stream();
  const int64_t blocks = n <= kTargetChunk ? 1 : ceil_div(n, kTargetChunk);
  if (blocks == 1) {
    check_targets_kernel<<<1, kBlockSize, 0, s>>>(target, n, classes, ignore_index, kTargetChunk, nullptr, result);
    TESSERA_CUDA_CHECK_LAUNCH(check_targets_kernel);
    return;
  }
  TESSERA_CHECK(blocks <= 0x7fffffff, name_, ": check_class_targets: too many targets (", n, ")");
  DeviceBuffer partials(*this, static_cast<size_t>(blocks) * sizeof(TargetScan));
  check_targets_kernel<<<static_cast<unsigned>(blocks), kBlockSize, 0, s>>>(
      target, n, classes, ignore_index, kTargetChunk, partials.as<TargetScan>(), result);
  TESSERA_CUDA_CHECK_LAUNCH(check_targets_kernel);
  finish_target_check_kernel<<<1, kBlockSize, 0, s>>>(partials.as<TargetScan>(), blocks, kTargetChunk, target, n,
                                                      result);
  TESSERA_CUDA_CHECK_LAUNCH(finish_target_check_kernel);
}

void CudaBackend::cross_entropy(const void* logits, const int64_t* target, void* probs, void* losses, DType dtype,
                                const ReduceShape& layout, int64_t ignore_index, double label_smoothing) {
  dispatch_f32_f64(dtype, "cross_entropy", [&]<typename T>() {
    if (layout.outer * layout.inner == 0) return;
    const CrossEntropyForward<T> op{static_cast<const T*>(logits), target, static_cast<T*>(probs),
                                    static_cast<T*>(losses), layout.n, ignore_index, label_smoothing};
    launch_segments(op, layout, plan_segments(layout, false), stream());
  });
}

void CudaBackend::cross_entropy_backward(const void* probs, const int64_t* target, const LossGrad& grad, void* gx,
                                         DType dtype, const ReduceShape& layout, int64_t ignore_index,
                                         double label_smoothing) {
  dispatch_f32_f64(dtype, "cross_entropy_backward", [&]<typename T>() {
    const T eps = static_cast<T>(label_smoothing);
    const CrossEntropyBackward<T> op{static_cast<const T*>(probs), target, upstream<T>(grad), static_cast<T*>(gx),
                                     layout.n, layout.inner, ignore_index, eps / static_cast<T>(layout.n),
                                     T(1) - eps};
    launch_for_each(op, layout.outer * layout.n * layout.inner, stream());
  });
}

void CudaBackend::nll_loss(const void* log_probs, const int64_t* target, void* losses, DType dtype,
                           const ReduceShape& layout, int64_t ignore_index) {
  dispatch_floating(dtype, "nll_loss", [&]<typename T>() {
    launch_for_each(NllForward<T>{static_cast<const T*>(log_probs), target, static_cast<T*>(losses), layout.n,
                                  layout.inner, ignore_index},
                    layout.outer * layout.inner, stream());
  });
}

void CudaBackend::nll_loss_backward(const int64_t* target, const LossGrad& grad, void* gx, DType dtype,
                                    const ReduceShape& layout, int64_t ignore_index) {
  dispatch_floating(dtype, "nll_loss_backward", [&]<typename T>() {
    launch_for_each(NllBackward<T>{target, upstream<T>(grad), static_cast<T*>(gx), layout.n, layout.inner,
                                   ignore_index},
                    layout.outer * layout.inner, stream());
  });
}

void CudaBackend::sum_losses(const void* losses, void* out, DType dtype, int64_t n, double divisor) {
  dispatch_floating(dtype, "loss", [&]<typename T>() {
    using Task = SumTask<T, StoreScaled<T>>;
    run_reduction<false>(*this, Task{static_cast<const T*>(losses), StoreScaled<T>{static_cast<T*>(out), divisor}},
                         ReduceShape{1, n, 1});
  });
}

void CudaBackend::mse_loss(const void* a, const void* b, void* diff, void* squares, void* total, DType dtype,
                           int64_t n, double divisor) {
  dispatch_floating(dtype, "mse_loss", [&]<typename T>() {
    const T* ap = static_cast<const T*>(a);
    const T* bp = static_cast<const T*>(b);
    T* dp = static_cast<T*>(diff);
    if (squares) {
      launch_for_each(MseElementwise<T>{ap, bp, dp, static_cast<T*>(squares)}, n, stream());
      return;
    }
    run_reduction<false>(*this, MseTotalTask<T>{ap, bp, dp, StoreScaled<T>{static_cast<T*>(total), divisor}},
                         ReduceShape{1, n, 1});
  });
}

void CudaBackend::mse_loss_backward(const void* diff, const LossGrad& grad, void* gx, DType dtype, int64_t n) {
  dispatch_floating(dtype, "mse_loss_backward", [&]<typename T>() {
    launch_for_each(MseBackward<T>{static_cast<const T*>(diff), upstream<T>(grad), static_cast<T*>(gx)}, n,
                    stream());
  });
}

}  // namespace tessera::kernels::cuda
