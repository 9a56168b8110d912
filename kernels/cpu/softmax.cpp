// CpuBackend::softmax and softmax_backward (moved from core/ops/softmax.cpp, unchanged). Invariants:
//  - computed in acc_t<T> (f32 for bf16/f16) with the row maximum subtracted first, so exp never overflows, and
//    log-softmax as (x - max) - log(sum), as PyTorch, never x - (max + log(sum)); f32
//    uses the vectorisable exp of kernels/cpu/vec_math.h (about 1 ulp);
//  - the contiguous input is walked as (outer, size, inner). A last-dim softmax walks contiguous rows in
//    vectorised passes; otherwise a tile of up to kTile inner columns is processed together, so every load is a
//    contiguous run and the per-column max/sum live in small stack arrays;
//  - backward uses only the saved output y: softmax dx = y * (g - sum(g * y)), log_softmax dx = g - exp(y) * sum(g).
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vec_math.h"

namespace tessera::kernels::cpu {

namespace {

namespace vec = ::tessera::detail;

constexpr int64_t kTile = 64;

// Calls fn(offset, width) for every tile of the (outer, size, inner) layout: element (k, i) of a tile is at
// offset + k * inner + i, for i < width.
template <typename F>
void for_each_tile(const ReduceShape& layout, F&& fn) {
  const int64_t tiles_per_outer = (layout.inner + kTile - 1) / kTile;
  const int64_t work = std::max<int64_t>(1, layout.n * std::min(layout.inner, kTile));
  parallel_for(layout.outer * tiles_per_outer, std::max<int64_t>(1, 16384 / work),
                             [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t o = t / tiles_per_outer, i0 = (t % tiles_per_outer) * kTile;
      fn(o * layout.n * layout.inner + i0, std::min(kTile, layout.inner - i0));
    }
  });
}

template <typename T>
constexpr bool kNative = std::is_same_v<T, acc_t<T>>;  // f32, f64: computed in their own type

// One contiguous row (inner == 1) of an f32/f64 tensor: every loop is a vectorisable pass (cpu/vec_math.h).
template <typename T, bool Log>
void softmax_row(const T* x, T* y, int64_t size) {
  T mx, sum;
  vec::exp_row(x, y, size, mx, sum);  // y = exp(x - max)
  // (x - max) - log(sum), as PyTorch: x - (max + log(sum)) rounds max + log(sum) first, losing log(sum) (the
  // whole of it when |max| is large) and leaving up to ulp(max) of error in the largest entries' log-probabilities.
  if constexpr (Log) {
    vec::scale_shift(x, y, size, T(1), -mx);
    vec::scale_shift(y, y, size, T(1), -std::log(sum));
  } else {
    vec::scale_shift(y, y, size, T(1) / sum, T(0));
  }
}

template <typename T, bool Log>
void softmax_row_backward(const T* y, const T* g, T* gx, int64_t size) {
  if constexpr (Log) {
    const T sum = vec::row_sum(g, size);
    std::copy(y, y + size, gx);
    vec::exp_inplace(gx, size);  // gx = softmax for now
    for (int64_t k = 0; k < size; ++k) gx[k] = g[k] - gx[k] * sum;
  } else {
    const T dot = vec::row_dot(g, y, size);
    for (int64_t k = 0; k < size; ++k) gx[k] = y[k] * (g[k] - dot);
  }
}

// One tile of `width` inner columns (any floating T, computed in acc_t<T>): exp(x[k, :] - max) into buf.
template <typename T>
void exp_tile_row(const T* x, const acc_t<T>* shift, acc_t<T>* buf, int64_t width) {
  for (int64_t i = 0; i < width; ++i) buf[i] = acc_t<T>(x[i]) - shift[i];
  vec::exp_inplace(buf, width);
}

template <typename T, bool Log>
void softmax_tile(const T* x, T* y, int64_t size, int64_t inner, int64_t width) {
  using A = acc_t<T>;
  A mx[kTile], sum[kTile], buf[kTile];
  for (int64_t i = 0; i < width; ++i) {
    mx[i] = -std::numeric_limits<A>::infinity();
    sum[i] = 0;
  }
  for (int64_t k = 0; k < size; ++k)
    for (int64_t i = 0; i < width; ++i) mx[i] = std::max(mx[i], A(x[k * inner + i]));
  for (int64_t k = 0; k < size; ++k) {
    exp_tile_row(x + k * inner, mx, buf, width);
    for (int64_t i = 0; i < width; ++i) sum[i] += buf[i];
    if constexpr (!Log && kNative<T>) std::copy(buf, buf + width, y + k * inner);
  }
  if constexpr (Log) {
    for (int64_t i = 0; i < width; ++i) sum[i] = std::log(sum[i]);
    for (int64_t k = 0; k < size; ++k)
      for (int64_t i = 0; i < width; ++i) y[k * inner + i] = T((A(x[k * inner + i]) - mx[i]) - sum[i]);
  } else {
    for (int64_t i = 0; i < width; ++i) sum[i] = A(1) / sum[i];
    for (int64_t k = 0; k < size; ++k) {
      if constexpr (kNative<T>) {
        for (int64_t i = 0; i < width; ++i) y[k * inner + i] *= sum[i];
      } else {  // recompute rather than round twice through bf16/f16
        exp_tile_row(x + k * inner, mx, buf, width);
        for (int64_t i = 0; i < width; ++i) y[k * inner + i] = T(buf[i] * sum[i]);
      }
    }
  }
}

template <typename T, bool Log>
void softmax_tile_backward(const T* y, const T* g, T* gx, int64_t size, int64_t inner, int64_t width) {
  using A = acc_t<T>;
  A dot[kTile], buf[kTile];
  for (int64_t i = 0; i < width; ++i) dot[i] = 0;
  for (int64_t k = 0; k < size; ++k)
    for (int64_t i = 0; i < width; ++i)
      dot[i] += Log ? A(g[k * inner + i]) : A(g[k * inner + i]) * A(y[k * inner + i]);
  for (int64_t k = 0; k < size; ++k) {
    const T* yk = y + k * inner;
    const T* gk = g + k * inner;
    T* out = gx + k * inner;
    if constexpr (Log) {
      for (int64_t i = 0; i < width; ++i) buf[i] = A(yk[i]);
      vec::exp_inplace(buf, width);
      for (int64_t i = 0; i < width; ++i) out[i] = T(A(gk[i]) - buf[i] * dot[i]);
    } else {
      for (int64_t i = 0; i < width; ++i) out[i] = T(A(yk[i]) * (A(gk[i]) - dot[i]));
    }
  }
}

template <typename T, bool Log>
void softmax_forward_loop(const T* x, T* y, const ReduceShape& layout) {
  for_each_tile(layout, [&](int64_t off, int64_t w) {
    if constexpr (kNative<T>)
      if (layout.inner == 1) return softmax_row<T, Log>(x + off, y + off, layout.n);
    softmax_tile<T, Log>(x + off, y + off, layout.n, layout.inner, w);
  });
}

template <typename T, bool Log>
void softmax_backward_loop(const T* y, const T* g, T* gx, const ReduceShape& layout) {
  for_each_tile(layout, [&](int64_t off, int64_t w) {
    if constexpr (kNative<T>)
      if (layout.inner == 1) return softmax_row_backward<T, Log>(y + off, g + off, gx + off, layout.n);
    softmax_tile_backward<T, Log>(y + off, g + off, gx + off, layout.n, layout.inner, w);
  });
}

}  // namespace

void CpuBackend::softmax(const void* x, void* y, DType dtype, const ReduceShape& layout, bool log) {
  dispatch_floating(dtype, log ? "log_softmax" : "softmax", [&]<typename T>() {
    const T* xp = host(static_cast<const T*>(x));
    T* yp = host(static_cast<T*>(y));
    if (log) softmax_forward_loop<T, true>(xp, yp, layout);
    else softmax_forward_loop<T, false>(xp, yp, layout);
  });
}

void CpuBackend::softmax_backward(const void* y, const void* g, void* gx, DType dtype, const ReduceShape& layout,
                                  bool log) {
  dispatch_floating(dtype, log ? "log_softmax" : "softmax", [&]<typename T>() {
    const T* yp = host(static_cast<const T*>(y));
    const T* gp = host(static_cast<const T*>(g));
    T* gxp = host(static_cast<T*>(gx));
    if (log) softmax_backward_loop<T, true>(yp, gp, gxp, layout);
    else softmax_backward_loop<T, false>(yp, gp, gxp, layout);
  });
}

}  // namespace tessera::kernels::cpu
