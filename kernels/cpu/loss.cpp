// CpuBackend's loss entries (moved from core/ops/loss.cpp, loops unchanged): cross_entropy (fused log-softmax + NLL
// + label smoothing), nll_loss, mse_loss, their backwards, the target check and the loss sum. Invariants:
//  - class inputs are contiguous (N, C, inner) and targets i64, already checked by check_class_targets (each a
//    class in [0, C) or ignore_index, which adds 0 loss and 0 gradient), so the parallel loops never throw;
//  - a mean's divisor may be a device count (LossGrad::count, sum_losses' count): read here, on the device;
//  - cross_entropy with smoothing eps is, per element, (1 - eps) * nll + (eps / C) * sum_c(-log p_c), computed from
//    shifted logits z = x - max: loss = log(sum exp z) - (1 - eps) z_t - (eps / C) sum z. It saves the softmax, so
//    backward is one pass: dL/dx_c = p_c - (1 - eps)[c == t] - eps / C, times the upstream gradient;
//  - sums over losses accumulate in double; the upstream scalar is read here, on the device, never by the host.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <memory>

#include "kernels/common/dtype_dispatch.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/index_check.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/elementwise_ops.h"

namespace tessera::kernels::cpu {

namespace {

namespace vec = ::tessera::detail;
using LossGrad = Backend::LossGrad;

// The upstream gradient per loss element: one value each (reduction none), or one scalar over the divisor.
template <typename T>
struct Upstream {
  const T* values = nullptr;
  acc_t<T> uniform = 0;
  acc_t<T> at(int64_t r) const { return values ? acc_t<T>(values[r]) : uniform; }
};

// `grad` holds host addresses here (host_view applied).
template <typename T>
Upstream<T> upstream(const LossGrad& grad) {
  Upstream<T> up;
  const T* g = static_cast<const T*>(grad.data);
  if (grad.per_element) {
    up.values = g;
  } else {
    const double v = ops::convert<double>(*g);
    const double divisor = grad.count ? static_cast<double>(*grad.count) : grad.divisor;
    up.uniform = static_cast<acc_t<T>>(divisor == 1.0 ? v : v / divisor);
  }
  return up;
}

// Calls fn(r, offset) for every loss element r, with `offset` the input position of its class 0 (classes are
// layout.inner apart), in parallel over elements.
template <typename F>
void for_each_row(const ReduceShape& layout, F&& fn) {
  const int64_t inner = layout.inner, row_span = layout.n * inner;
  parallel_for(layout.outer * inner, std::max<int64_t>(1, 8192 / std::max<int64_t>(layout.n, 1)),
               [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) fn(r, (r / inner) * row_span + r % inner);
  });
}

struct SmoothedTarget {
  int64_t target;
  int64_t ignore_index;
  double eps;
};

// The smoothed cross-entropy of one row from its max, sum of exp(x - max) and sum of x (0 when ignored).
template <typename T>
T smoothed_loss(T x_target, T mx, T sum_exp, T sum_x, int64_t classes, const SmoothedTarget& st) {
  if (st.target == st.ignore_index) return T(0);
  const T eps = static_cast<T>(st.eps);
  T loss = std::log(sum_exp) - (T(1) - eps) * (x_target - mx);
  if (st.eps != 0.0) loss -= eps / static_cast<T>(classes) * (sum_x - static_cast<T>(classes) * mx);
  return loss;
}

// Softmax of one contiguous row into p (vectorised passes, kernels/cpu/vec_math.h); returns the row's loss.
template <typename T>
T cross_entropy_row(const T* x, T* p, int64_t classes, const SmoothedTarget& st) {
  T mx, sum;
  vec::exp_row(x, p, classes, mx, sum);
  vec::scale_shift(p, p, classes, T(1) / sum, T(0));
  const T sum_x = st.eps != 0.0 ? vec::row_sum(x, classes) : T(0);
  return smoothed_loss(st.target == st.ignore_index ? T(0) : x[st.target], mx, sum, sum_x, classes, st);
}

// The same for a row whose classes are `stride` apart ((N, C, d...) inputs).
template <typename T>
T cross_entropy_strided_row(const T* x, T* p, int64_t classes, int64_t stride, const SmoothedTarget& st) {
  T mx = -std::numeric_limits<T>::infinity(), sum = 0, sum_x = 0;
  for (int64_t c = 0; c < classes; ++c) mx = std::max(mx, x[c * stride]);
  for (int64_t c = 0; c < classes; ++c) {
    p[c * stride] = std::exp(x[c * stride] - mx);
    sum += p[c * stride];
    sum_x += x[c * stride];
  }
  const T inv = T(1) / sum;
  for (int64_t c = 0; c < classes; ++c) p[c * stride] *= inv;
  return smoothed_loss(st.target == st.ignore_index ? T(0) : x[st.target * stride], mx, sum, sum_x, classes, st);
}

// dL/dx_c = scale * (p_c - eps / C - (1 - eps)[c == t]); zero for an ignored row. Classes `stride` apart.
template <typename T, bool Unit>
void cross_entropy_row_backward(const T* p, T* gx, int64_t classes, int64_t stride, const SmoothedTarget& st, T scale) {
  const int64_t s = Unit ? 1 : stride;
  if (st.target == st.ignore_index) {
    for (int64_t c = 0; c < classes; ++c) gx[c * s] = T(0);
    return;
  }
  const T off = static_cast<T>(st.eps) / static_cast<T>(classes);
  for (int64_t c = 0; c < classes; ++c) gx[c * s] = scale * (p[c * s] - off);
  gx[st.target * s] -= scale * (T(1) - static_cast<T>(st.eps));
}

template <typename T>
void cross_entropy_forward(const T* x, const int64_t* t, T* probs, T* losses, const ReduceShape& layout,
                           int64_t ignore_index, double eps) {
  const int64_t classes = layout.n, inner = layout.inner;
  for_each_row(layout, [&](int64_t r, int64_t off) {
    const SmoothedTarget st{t[r], ignore_index, eps};
    losses[r] = inner == 1 ? cross_entropy_row<T>(x + off, probs + off, classes, st)
                           : cross_entropy_strided_row<T>(x + off, probs + off, classes, inner, st);
  });
}

template <typename T>
void cross_entropy_backward_loop(const T* probs, T* gx, const int64_t* t, const ReduceShape& layout,
                                 const Upstream<T>& up, int64_t ignore_index, double eps) {
  for_each_row(layout, [&](int64_t r, int64_t off) {
    const SmoothedTarget st{t[r], ignore_index, eps};
    if (layout.inner == 1) cross_entropy_row_backward<T, true>(probs + off, gx + off, layout.n, 1, st, up.at(r));
    else cross_entropy_row_backward<T, false>(probs + off, gx + off, layout.n, layout.inner, st, up.at(r));
  });
}

// cross_entropy's io_dtype: f32/f64 as `dtype`, or bf16/f16 with f32 computation, which goes through an f32 buffer
// (the f32 path's arithmetic on the converted values: bitwise a conversion before, and after for gx).
bool checked_half_io(DType dtype, DType io_dtype, const char* op) {
  if (io_dtype == dtype) return false;
  TESSERA_CHECK(dtype == DType::f32 && (io_dtype == DType::bf16 || io_dtype == DType::f16), op, ": ",
                dtype_name(io_dtype), " logits and gradients are computed in f32, not ", dtype_name(dtype));
  return true;
}

constexpr int64_t kConvertGrain = 32768;

// dst[i] = src[i] converted, split over the thread pool.
template <typename From, typename To>
void convert_elements(const From* src, To* dst, int64_t n) {
  parallel_for(n, kConvertGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<To>(src[i]);
  });
}

}  // namespace

Backend::LossGrad CpuBackend::host_view(const LossGrad& grad) const {
  return {host(grad.data), grad.per_element, grad.divisor, grad.count ? host(grad.count) : nullptr};
}

void CpuBackend::check_class_targets(const int64_t* target, int64_t n, int64_t ignore_index,
                                     const IndexBounds& bounds, int64_t* count) {
  const int64_t* p = host(target);
  check_indices(p, n, bounds, ignore_index);
  int64_t ignored = 0;
  for (int64_t i = 0; i < n; ++i) ignored += p[i] == ignore_index;  // also one inside [0, classes)
  *host(count) = n - ignored;
}

void CpuBackend::cross_entropy(const void* logits, const int64_t* target, void* probs, void* losses, DType dtype,
                               DType io_dtype, const ReduceShape& layout, int64_t ignore_index,
                               double label_smoothing) {
  const bool half = checked_half_io(dtype, io_dtype, "cross_entropy");
  const int64_t n = layout.outer * layout.n * layout.inner;
  const std::unique_ptr<float[]> x(half ? new float[static_cast<size_t>(n)] : nullptr);  // uninitialised
  if (half)
    dispatch_floating(io_dtype, "cross_entropy", [&]<typename T>() {
      convert_elements(host(static_cast<const T*>(logits)), x.get(), n);
    });
  dispatch_f32_f64(dtype, "cross_entropy", [&]<typename T>() {
    const T* xs = host(static_cast<const T*>(logits));
    if constexpr (std::is_same_v<T, float>)
      if (half) xs = x.get();
    cross_entropy_forward<T>(xs, host(target), host(static_cast<T*>(probs)), host(static_cast<T*>(losses)), layout,
                             ignore_index, label_smoothing);
  });
}

void CpuBackend::cross_entropy_backward(const void* probs, const int64_t* target, const LossGrad& grad, void* gx,
                                        DType dtype, DType io_dtype, const ReduceShape& layout, int64_t ignore_index,
                                        double label_smoothing) {
  const bool half = checked_half_io(dtype, io_dtype, "cross_entropy_backward");
  const int64_t n = layout.outer * layout.n * layout.inner;
  const std::unique_ptr<float[]> wide(half ? new float[static_cast<size_t>(n)] : nullptr);  // uninitialised
  dispatch_f32_f64(dtype, "cross_entropy_backward", [&]<typename T>() {
    T* out = host(static_cast<T*>(gx));
    if constexpr (std::is_same_v<T, float>)
      if (half) out = wide.get();
    cross_entropy_backward_loop<T>(host(static_cast<const T*>(probs)), out, host(target), layout,
                                   upstream<T>(host_view(grad)), ignore_index, label_smoothing);
  });
  if (half)
    dispatch_floating(io_dtype, "cross_entropy_backward", [&]<typename T>() {
      convert_elements(static_cast<const float*>(wide.get()), host(static_cast<T*>(gx)), n);
    });
}

void CpuBackend::nll_loss(const void* log_probs, const int64_t* target, void* losses, DType dtype,
                          const ReduceShape& layout, int64_t ignore_index) {
  const int64_t* t = host(target);
  const int64_t inner = layout.inner;
  dispatch_floating(dtype, "nll_loss", [&]<typename T>() {
    const T* xp = host(static_cast<const T*>(log_probs));
    T* lp = host(static_cast<T*>(losses));
    for_each_row(layout, [&](int64_t r, int64_t off) {
      lp[r] = t[r] == ignore_index ? T(0.0f) : T(-acc_t<T>(xp[off + t[r] * inner]));
    });
  });
}

void CpuBackend::nll_loss_backward(const int64_t* target, const LossGrad& grad, void* gx, DType dtype,
                                   const ReduceShape& layout, int64_t ignore_index) {
  const int64_t* t = host(target);
  dispatch_floating(dtype, "nll_loss_backward", [&]<typename T>() {
    T* gp = host(static_cast<T*>(gx));
    const Upstream<T> up = upstream<T>(host_view(grad));
    for_each_row(layout, [&](int64_t r, int64_t off) {
      if (t[r] != ignore_index) gp[off + t[r] * layout.inner] = T(-up.at(r));
    });
  });
}

void CpuBackend::sum_losses(const void* losses, void* out, DType dtype, int64_t n, double divisor,
                            const int64_t* count) {
  if (count) divisor = static_cast<double>(*host(count));
  dispatch_floating(dtype, "loss", [&]<typename T>() {
    const T* p = host(static_cast<const T*>(losses));
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += static_cast<double>(static_cast<acc_t<T>>(p[i]));
    if (divisor != 1.0) total /= divisor;
    *host(static_cast<T*>(out)) = ops::from_double<T>(total);
  });
}

void CpuBackend::mse_loss(const void* a, const void* b, void* diff, void* squares, void* total, DType dtype,
                          int64_t n, double divisor) {
  dispatch_floating(dtype, "mse_loss", [&]<typename T>() {
    using A = acc_t<T>;
    const T* ap = host(static_cast<const T*>(a));
    const T* bp = host(static_cast<const T*>(b));
    T* dp = host(static_cast<T*>(diff));
    T* sp = squares ? host(static_cast<T*>(squares)) : nullptr;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const A d = A(ap[i]) - A(bp[i]);
      dp[i] = T(d);
      if (sp) sp[i] = T(d * d);
      else sum += static_cast<double>(d) * static_cast<double>(d);
    }
    if (!sp) {
      if (divisor != 1.0) sum /= divisor;  // empty mean: 0 / 0 is NaN, as PyTorch
      *host(static_cast<T*>(total)) = ops::from_double<T>(sum);
    }
  });
}

void CpuBackend::mse_loss_backward(const void* diff, const LossGrad& grad, void* gx, DType dtype, int64_t n) {
  dispatch_floating(dtype, "mse_loss_backward", [&]<typename T>() {
    const Upstream<T> up = upstream<T>(host_view(grad));
    const T* dp = host(static_cast<const T*>(diff));
    T* gp = host(static_cast<T*>(gx));
    for (int64_t i = 0; i < n; ++i) gp[i] = T(acc_t<T>(2) * acc_t<T>(dp[i]) * up.at(i));
  });
}

}  // namespace tessera::kernels::cpu
