// CudaBackend's loss entries: the class-target check, fused cross-entropy (log-softmax + NLL + label smoothing),
// NLL, MSE, their backwards and the loss sum. Invariants:
//  - the CPU's formulas term for term (kernels/cpu/loss.cpp): cross-entropy from shifted logits z = x - max,
//    loss = log(sum exp z) - (1 - eps) z_t - (eps / C) sum z, probs saved so backward is one elementwise pass
//    dL/dx_c = scale (p_c - eps / C) - scale (1 - eps) [c == t]; ignored targets give 0 loss and 0 gradient;
//  - targets are checked by check_class_targets, which counts those that are not ignore_index on the device and
//    reports a bad one at the next host synchronisation (the index-check slot of cuda_backend.h); until then the
//    loss kernels treat a target outside [0, C) as ignored, so no kernel reads out of bounds and the step never
//    waits for its targets. Up to kOneBlockTargets (16,384) targets one block does it all (count, first bad
//    position and its value: one launch, no atomics); more take the grid (a memset of the count, the check, the
//    report);
//  - the upstream gradient's scalar (LossGrad::data, a device pointer) and a mean's count (LossGrad::count) are
//    read inside the kernels, never by the host; sums over losses accumulate in f64 in a deterministic tree (block_reduce.cuh), 0 / 0 giving NaN;
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
// The divisor of a reduced loss: a count on the device (a class loss's mean) or a host value.
struct Divisor {
  double value;
  const int64_t* count;
  // total / divisor (0 / 0 is NaN), skipping the division by 1.
  __device__ double divide(double total) const {
    const double d = count ? static_cast<double>(*count) : value;
    return d == 1.0 ? total : total / d;
  }
};

template <typename T>
struct Upstream {
  const T* data;
  bool per_element;
  Divisor divisor;
  __device__ acc_t<T> at(int64_t r) const {
    if (per_element) return static_cast<acc_t<T>>(data[r]);
    return static_cast<acc_t<T>>(divisor.divide(ops::convert<double>(data[0])));
  }
};

template <typename T>
Upstream<T> upstream(const LossGrad& grad) {
  return {static_cast<const T*>(grad.data), grad.per_element, {grad.divisor, grad.count}};
}

// A target that takes no part in the loss: ignore_index, or out of range (reported by check_class_targets).
__device__ __forceinline__ bool skipped_target(int64_t t, int64_t classes, int64_t ignore_index) {
  return t == ignore_index || static_cast<uint64_t>(t) >= static_cast<uint64_t>(classes);
}

// The compute dtype: f32 or f64 (bf16/f16 logits and gradients come as cross_entropy's io_dtype, computed in f32).
template <typename F>
void dispatch_f32_f64(DType dtype, const char* op, F&& f) {
  dispatch_floating(dtype, op, [&]<typename T>() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) f.template operator()<T>();
    else TESSERA_THROW(op, ": expected f32 or f64, got ", dtype_name(dtype));
  });
}

// cross_entropy's compute dtype T and io_dtype: f.template operator()<T, TIo>(), TIo = T, or bf16/f16 with f32 (read
// into f32 and written from it, as a conversion kernel before and after would).
template <typename F>
void dispatch_with_io(DType dtype, DType io_dtype, const char* op, F&& f) {
  dispatch_f32_f64(dtype, op, [&]<typename T>() {
    if (io_dtype == dtype) return f.template operator()<T, T>();
    if constexpr (std::is_same_v<T, float>) {
      if (io_dtype == DType::bf16) return f.template operator()<T, bf16>();
      if (io_dtype == DType::f16) return f.template operator()<T, f16>();
    }
    TESSERA_THROW(op, ": ", dtype_name(io_dtype), " logits and gradients are computed in f32, not ", dtype_name(dtype));
  });
}

// --- class-target check

// count += the targets other than ignore_index (integer atomics: exact in any order); a target outside [0, classes)
// that is not ignore_index puts its position into the index-check slot (the minimum wins).
__global__ void __launch_bounds__(kBlockSize)
    check_targets_kernel(const int64_t* target, int64_t n, int64_t classes, int64_t ignore_index,
                         unsigned long long* count, IndexErrorSlot* slot) {
  unsigned long long counted = 0;
  TESSERA_GRID_STRIDE_LOOP(i, n) {
    const int64_t v = target[i];
    if (v == ignore_index) continue;
    ++counted;
    if (static_cast<uint64_t>(v) >= static_cast<uint64_t>(classes))
      atomicMin(&slot->position, static_cast<unsigned long long>(i));
  }
  for (int offset = 16; offset > 0; offset /= 2) counted += __shfl_down_sync(0xffffffffu, counted, offset);
  if ((threadIdx.x & 31) == 0 && counted) atomicAdd(count, counted);
}

// The whole check in one block, for a batch's worth of targets: each thread walks its share in increasing order (so
// its first bad position is its smallest), then the block sums the counts and takes the smallest bad position; the
// leader writes the count and, for a bad target, its position and value into the slot (a fresh one: no atomics).
// Up to 16,384 targets (GPT-2's 16 x 1024 tokens) one SM reads them (128 KiB) in about the time of the two launches
// it saves; the grid takes more.
constexpr int64_t kOneBlockTargets = 1 << 14;

__global__ void __launch_bounds__(kBlockSize)
    check_targets_block_kernel(const int64_t* target, int64_t n, int64_t classes, int64_t ignore_index,
                               int64_t* count, IndexErrorSlot* slot) {
  __shared__ __align__(16) unsigned char smem[kSharedBytes];
  const BlockGroup block{smem};
  unsigned long long counted = 0, first_bad = kNoBadIndex;
  for (int64_t i = threadIdx.x; i < n; i += kBlockSize) {
    const int64_t v = target[i];
    if (v == ignore_index) continue;
    ++counted;
    if (first_bad == kNoBadIndex && static_cast<uint64_t>(v) >= static_cast<uint64_t>(classes))
      first_bad = static_cast<unsigned long long>(i);
  }
  counted = block.reduce(counted, Plus{});
  first_bad = block.reduce(first_bad, Min{});
  if (!block.leader()) return;
  *count = static_cast<int64_t>(counted);
  if (first_bad != kNoBadIndex) {
    slot->position = first_bad;
    slot->value = target[first_bad];
  }
}

// --- cross-entropy

template <typename T, typename TIn>
struct CrossEntropyForward {
  const TIn* x;
  const int64_t* target;
  T* probs;
  T* losses;
  int64_t classes;
  int64_t ignore_index;
  double eps;
  template <typename G>
  __device__ void operator()(const G& group, const Segment& s) const {
    const TIn* xs = x + s.offset;
    T* ps = probs + s.offset;
    T mx = -std::numeric_limits<T>::infinity();
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width())
      mx = device_fmax(mx, static_cast<T>(xs[k * s.stride]));
    mx = group.reduce(mx, MaxIgnoringNaN{});
    T sum = 0, sum_x = 0;
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width()) {
      const T v = static_cast<T>(xs[k * s.stride]);
      sum += device_exp(v - mx);
      sum_x += v;
    }
    sum = group.reduce(sum, Plus{});
    if (eps != 0.0) sum_x = group.reduce(sum_x, Plus{});  // uniform branch: every thread reduces or none
    const T inv = T(1) / sum;
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width())
      ps[k * s.stride] = device_exp(static_cast<T>(xs[k * s.stride]) - mx) * inv;
    if (!group.leader() || !s.active) return;
    const int64_t t = target[s.out];
    if (skipped_target(t, classes, ignore_index)) {
      losses[s.out] = T(0);
      return;
    }
    const T e = static_cast<T>(eps);
    T loss = device_log(sum) - (T(1) - e) * (static_cast<T>(xs[t * s.stride]) - mx);
    if (eps != 0.0) loss -= e / static_cast<T>(classes) * (sum_x - static_cast<T>(classes) * mx);
    losses[s.out] = loss;
  }
};

template <typename T, typename TOut>
struct CrossEntropyBackward {
  const T* probs;
  const int64_t* target;
  Upstream<T> up;
  TOut* gx;
  int64_t n, inner, ignore_index;
  T off;   // eps / C
  T keep;  // 1 - eps
  __device__ void operator()(int64_t i) const {
    const int64_t span = n * inner;
    const int64_t o = i / span, rem = i - o * span;
    const int64_t c = rem / inner, j = rem - c * inner;
    const int64_t r = o * inner + j;
    const int64_t t = target[r];
    if (skipped_target(t, n, ignore_index)) {
      gx[i] = TOut(T(0));
      return;
    }
    const T scale = up.at(r);
    T v = scale * (probs[i] - off);
    if (c == t) v -= scale * keep;
    gx[i] = TOut(v);
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
    losses[r] = skipped_target(t, n, ignore_index) ? T(0.0f)
                                                   : T(-static_cast<acc_t<T>>(log_probs[(o * n + t) * inner + j]));
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
    if (skipped_target(t, n, ignore_index)) return;
    const int64_t o = r / inner, j = r - o * inner;
    gx[(o * n + t) * inner + j] = T(-up.at(r));
  }
};

// --- sums of losses and MSE

template <typename T>
struct StoreScaled {  // *out = total / divisor (0 / 0 is NaN)
  T* out;
  Divisor divisor;
  __device__ void operator()(int64_t, double total) const {
    *out = ops::from_double<T>(divisor.divide(total));
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

void CudaBackend::check_class_targets(const int64_t* target, int64_t n, int64_t ignore_index,
                                      const IndexBounds& bounds, int64_t* count) {
  const cudaStream_t s = stream();
  if (n > 0 && n <= kOneBlockTargets) {
    IndexErrorSlot* slot = begin_index_check(bounds);  // before the launch: it may synchronise or throw
    check_targets_block_kernel<<<1, kBlockSize, 0, s>>>(target, n, bounds.size, ignore_index, count, slot);
    TESSERA_CUDA_CHECK_LAUNCH(check_targets_block_kernel);
    return;
  }
  TESSERA_CUDA_CHECK(cudaMemsetAsync(count, 0, sizeof(int64_t), s));
  if (n == 0) return;
  IndexErrorSlot* slot = begin_index_check(bounds);
  check_targets_kernel<<<grid_for(n), kBlockSize, 0, s>>>(target, n, bounds.size, ignore_index,
                                                         reinterpret_cast<unsigned long long*>(count), slot);
  TESSERA_CUDA_CHECK_LAUNCH(check_targets_kernel);
  report_bad_index(slot, target, s);
}

void CudaBackend::cross_entropy(const void* logits, const int64_t* target, void* probs, void* losses, DType dtype,
                                DType io_dtype, const ReduceShape& layout, int64_t ignore_index,
                                double label_smoothing) {
  dispatch_with_io(dtype, io_dtype, "cross_entropy", [&]<typename T, typename TIn>() {
    if (layout.outer * layout.inner == 0) return;
    const CrossEntropyForward<T, TIn> op{static_cast<const TIn*>(logits), target, static_cast<T*>(probs),
                                         static_cast<T*>(losses), layout.n, ignore_index, label_smoothing};
    launch_segments(op, layout, plan_segments(layout, false), stream());
  });
}

void CudaBackend::cross_entropy_backward(const void* probs, const int64_t* target, const LossGrad& grad, void* gx,
                                         DType dtype, DType io_dtype, const ReduceShape& layout, int64_t ignore_index,
                                         double label_smoothing) {
  dispatch_with_io(dtype, io_dtype, "cross_entropy_backward", [&]<typename T, typename TOut>() {
    const T eps = static_cast<T>(label_smoothing);
    const CrossEntropyBackward<T, TOut> op{static_cast<const T*>(probs), target, upstream<T>(grad),
                                           static_cast<TOut*>(gx), layout.n, layout.inner, ignore_index,
                                           eps / static_cast<T>(layout.n), T(1) - eps};
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

void CudaBackend::sum_losses(const void* losses, void* out, DType dtype, int64_t n, double divisor,
                             const int64_t* count) {
  dispatch_floating(dtype, "loss", [&]<typename T>() {
    using Task = SumTask<T, StoreScaled<T>>;
    run_reduction<false>(*this, Task{static_cast<const T*>(losses), StoreScaled<T>{static_cast<T*>(out), {divisor, count}}},
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
    run_reduction<false>(*this, MseTotalTask<T>{ap, bp, dp, StoreScaled<T>{static_cast<T*>(total), {divisor, nullptr}}},
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
