// CudaBackend reductions over (outer, n, inner) blocks (sum, variance, max/min with indices, its backward) and the
// gradient-norm power sum. Invariants:
//  - the CPU's semantics (kernels/cpu/reduce.cpp, optimizer.cpp): sums accumulate in f64 (i64 for integers) and
//    round once, so only the association order differs from the CPU's index order (the f64 sum of f32 values agrees
//    to far below f32 rounding; integer sums are exact);
//  - deterministic (block_reduce.cuh): fixed trees, no float atomics; a run repeats bit for bit;
//  - max/min: NaN wins, with the first NaN's index; ties keep the first index. The combine orders candidates by
//    (NaN first, value, smaller index), a total order, so any tree picks what the CPU's sequential scan picks;
//  - variance keeps the CPU's two passes in f64 within each segment (or chunk of a split segment); chunks merge
//    with Chan's exact formula, so no one-pass cancellation;
//  - norm_power_sum reduces to one device double, which the caller combines on the device (clip_grad_norm_ needs
//    no host wait).
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/optimizer_rules.h"

namespace tessera::kernels::cuda {

namespace {

using namespace reduction;

// out[o] = the sum rounded once to T.
template <typename T>
struct StoreRounded {
  T* out;
  __device__ void operator()(int64_t o, sum_acc_t<T> total) const {
    out[o] = static_cast<T>(static_cast<acc_t<T>>(total));
  }
};

// --- variance

struct Moments {  // a chunk's count, mean and sum of squared deviations from its mean
  double count;
  double mean;
  double m2;
};

template <typename T>
struct VarianceTask {
  using Acc = Moments;
  const T* in;
  T* out;
  double divisor;
  __device__ Acc identity() const { return {0.0, 0.0, 0.0}; }
  __device__ Acc combine(const Acc& a, const Acc& b) const {  // Chan et al.
    if (b.count == 0.0) return a;
    if (a.count == 0.0) return b;
    const double count = a.count + b.count;
    const double delta = b.mean - a.mean;
    return {count, a.mean + delta * (b.count / count), a.m2 + b.m2 + delta * delta * (a.count * b.count / count)};
  }
  template <typename G>
  __device__ Acc reduce(const G& group, const Segment& s) const {
    const T* p = in + s.offset;
    double sum = 0.0;
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width()) sum += static_cast<double>(p[k * s.stride]);
    sum = group.reduce(sum, Plus{});
    const double count = static_cast<double>(s.end - s.begin);
    const double mean = sum / count;  // NaN for an empty range, which then adds no squares
    double squares = 0.0;
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width()) {
      const double d = static_cast<double>(p[k * s.stride]) - mean;
      squares += d * d;
    }
    return {count, mean, group.reduce(squares, Plus{})};
  }
  __device__ void store(int64_t o, const Acc& acc) const {
    out[o] = T(static_cast<acc_t<T>>(acc.m2 / divisor));
  }
};

// --- max / min with the index of the first occurrence

template <typename A>
struct ArgBest {
  A value;
  int64_t index;
};

template <typename T>
struct ExtremeTask {
  using A = acc_t<T>;
  using Acc = ArgBest<A>;
  const T* in;
  T* values;
  int64_t* indices;
  bool is_max;

  // Loses to every element (an element with the same value has a smaller index).
  __device__ Acc identity() const {
    if constexpr (std::is_floating_point_v<A>) {
      return {is_max ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::infinity(),
              std::numeric_limits<int64_t>::max()};
    } else {
      return {is_max ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max(),
              std::numeric_limits<int64_t>::max()};
    }
  }
  // The first in the order (NaN first, then the larger (max) or smaller (min) value, then the smaller index).
  __device__ Acc combine(const Acc& a, const Acc& b) const {
    if constexpr (std::is_floating_point_v<A>) {
      const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
      if (a_nan || b_nan) {
        if (a_nan && b_nan) return a.index <= b.index ? a : b;
        return a_nan ? a : b;
      }
    }
    if (a.value != b.value) return (is_max ? b.value < a.value : a.value < b.value) ? a : b;
    return a.index <= b.index ? a : b;
  }
  template <typename G>
  __device__ Acc reduce(const G& group, const Segment& s) const {
    const T* p = in + s.offset;
    Acc best = identity();
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width())
      best = combine(best, Acc{static_cast<A>(p[k * s.stride]), k});
    return group.reduce(best, [this](const Acc& a, const Acc& b) { return combine(a, b); });
  }
  __device__ void store(int64_t o, const Acc& acc) const {
    values[o] = T(acc.value);
    indices[o] = acc.index;
  }
};

template <typename T>
struct ExtremeBackward {
  const T* grad;
  const int64_t* indices;
  T* grad_in;
  int64_t n, inner;
  __device__ void operator()(int64_t c) const {
    const int64_t o = c / inner, j = c - o * inner;
    grad_in[(o * n + indices[c]) * inner + j] = grad[c];
  }
};

// --- gradient norms: sum |x|^p in f64, or max |x| (a NaN wins, norm_max, as on the CPU)

enum class NormKind { one, two, inf, general };

template <typename T, NormKind kKind>
struct NormTask {
  using Acc = double;
  const T* x;
  double p;
  double* out;
  __device__ Acc identity() const { return 0.0; }
  __device__ Acc combine(Acc a, Acc b) const {
    if constexpr (kKind == NormKind::inf) return norm_max(a, b);
    else return a + b;
  }
  template <typename G>
  __device__ Acc reduce(const G& group, const Segment& s) const {
    double part = 0.0;
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width()) {
      const double a = ::fabs(static_cast<double>(static_cast<acc_t<T>>(x[s.offset + k])));
      if constexpr (kKind == NormKind::two) part += a * a;
      else if constexpr (kKind == NormKind::one) part += a;
      else if constexpr (kKind == NormKind::inf) part = norm_max(part, a);
      else part += ::pow(a, p);
    }
    return group.reduce(part, [this](Acc a, Acc b) { return combine(a, b); });
  }
  __device__ void store(int64_t, Acc acc) const { *out = acc; }
};

}  // namespace

void CudaBackend::sum(const void* in, void* out, DType dtype, const ReduceShape& shape) {
  dispatch_numeric(dtype, "sum", [&]<typename T>() {
    using Task = SumTask<T, StoreRounded<T>>;
    run_reduction(*this, Task{static_cast<const T*>(in), StoreRounded<T>{static_cast<T*>(out)}}, shape);
  });
}

void CudaBackend::variance(const void* in, void* out, DType dtype, const ReduceShape& shape, double divisor) {
  TESSERA_CHECK(shape.inner == 1, "variance: expected rows (inner 1), got inner ", shape.inner);
  dispatch_floating(dtype, "var", [&]<typename T>() {
    run_reduction<false>(*this, VarianceTask<T>{static_cast<const T*>(in), static_cast<T*>(out), divisor}, shape);
  });
}

void CudaBackend::extreme(bool is_max, const void* in, void* values, int64_t* indices, DType dtype,
                          const ReduceShape& shape) {
  dispatch_all(dtype, is_max ? "max" : "min", [&]<typename T>() {
    run_reduction(*this, ExtremeTask<T>{static_cast<const T*>(in), static_cast<T*>(values), indices, is_max},
                  shape);
  });
}

void CudaBackend::extreme_backward(const void* grad, const int64_t* indices, void* grad_in, DType dtype,
                                   const ReduceShape& shape) {
  dispatch_floating(dtype, "max_backward", [&]<typename T>() {
    launch_for_each(ExtremeBackward<T>{static_cast<const T*>(grad), indices, static_cast<T*>(grad_in), shape.n,
                                       shape.inner},
                    shape.outer * shape.inner, stream());
  });
}

void CudaBackend::norm_power_sum(DType dtype, const void* data, int64_t n, double p, double* out) {
  const NormKind kind = std::isinf(p) ? NormKind::inf : p == 2.0 ? NormKind::two : p == 1.0 ? NormKind::one
                                                                                             : NormKind::general;
  dispatch_floating(dtype, "clip_grad_norm_", [&]<typename T>() {
    const T* x = static_cast<const T*>(data);
    const ReduceShape shape{1, n, 1};
    switch (kind) {
      case NormKind::two: run_reduction<false>(*this, NormTask<T, NormKind::two>{x, p, out}, shape); break;
      case NormKind::one: run_reduction<false>(*this, NormTask<T, NormKind::one>{x, p, out}, shape); break;
      case NormKind::inf: run_reduction<false>(*this, NormTask<T, NormKind::inf>{x, p, out}, shape); break;
      case NormKind::general: run_reduction<false>(*this, NormTask<T, NormKind::general>{x, p, out}, shape); break;
    }
  });
}

}  // namespace tessera::kernels::cuda
