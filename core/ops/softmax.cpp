// softmax and log_softmax along one dim. Invariants:
//  - computed in acc_t<T> (f32 for bf16/f16) with the row maximum subtracted first, so exp never overflows;
//  - the input is made contiguous and walked as (outer, size, inner) (index_util.h). A last-dim softmax walks
//    contiguous rows; otherwise a tile of up to kTile inner columns is processed together, so every load is a
//    contiguous run and the per-column max/sum live in small stack arrays;
//  - backward uses only the saved output y: softmax dx = y * (g - sum(g * y)), log_softmax dx = g - exp(y) * sum(g).
#include <cmath>
#include <limits>

#include "core/autograd/node.h"
#include "core/ops/index_util.h"
#include "core/ops/nn_functional.h"
#include "kernels/cpu/parallel.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;
using detail::DimLayout;

namespace {

constexpr int64_t kTile = 64;

// Calls fn(offset, width) for every tile of the (outer, size, inner) layout: element (k, i) of a tile is at
// offset + k * inner + i, for i < width.
template <typename F>
void for_each_tile(const DimLayout& layout, F&& fn) {
  const int64_t tiles_per_outer = (layout.inner + kTile - 1) / kTile;
  const int64_t work = std::max<int64_t>(1, layout.size * std::min(layout.inner, kTile));
  kernels::cpu::parallel_for(layout.outer * tiles_per_outer, std::max<int64_t>(1, 16384 / work),
                             [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t o = t / tiles_per_outer, i0 = (t % tiles_per_outer) * kTile;
      fn(o * layout.size * layout.inner + i0, std::min(kTile, layout.inner - i0));
    }
  });
}

// One tile of the forward. Unit: inner == 1 (contiguous rows; width and stride are the constant 1).
template <typename T, bool Log, bool Unit>
void softmax_tile(const T* x, T* y, int64_t size, int64_t inner, int64_t width) {
  using A = acc_t<T>;
  const int64_t s = Unit ? 1 : inner;
  const int64_t w = Unit ? 1 : width;
  A mx[kTile], sum[kTile];
  for (int64_t i = 0; i < w; ++i) {
    mx[i] = -std::numeric_limits<A>::infinity();
    sum[i] = 0;
  }
  for (int64_t k = 0; k < size; ++k)
    for (int64_t i = 0; i < w; ++i) mx[i] = std::max(mx[i], A(x[k * s + i]));
  for (int64_t k = 0; k < size; ++k) {
    for (int64_t i = 0; i < w; ++i) {
      const A e = std::exp(A(x[k * s + i]) - mx[i]);
      sum[i] += e;
      if constexpr (!Log && std::is_same_v<T, A>) y[k * s + i] = e;
    }
  }
  if constexpr (Log) {
    for (int64_t i = 0; i < w; ++i) sum[i] = mx[i] + std::log(sum[i]);
    for (int64_t k = 0; k < size; ++k)
      for (int64_t i = 0; i < w; ++i) y[k * s + i] = T(A(x[k * s + i]) - sum[i]);
  } else {
    for (int64_t i = 0; i < w; ++i) sum[i] = A(1) / sum[i];
    for (int64_t k = 0; k < size; ++k) {
      for (int64_t i = 0; i < w; ++i) {
        if constexpr (std::is_same_v<T, A>) y[k * s + i] *= sum[i];
        else y[k * s + i] = T(std::exp(A(x[k * s + i]) - mx[i]) * sum[i]);  // one rounding for bf16/f16
      }
    }
  }
}

// One tile of the backward, from the saved output y and the output gradient g.
template <typename T, bool Log, bool Unit>
void softmax_backward_tile(const T* y, const T* g, T* gx, int64_t size, int64_t inner, int64_t width) {
  using A = acc_t<T>;
  const int64_t s = Unit ? 1 : inner;
  const int64_t w = Unit ? 1 : width;
  A dot[kTile];
  for (int64_t i = 0; i < w; ++i) dot[i] = 0;
  for (int64_t k = 0; k < size; ++k)
    for (int64_t i = 0; i < w; ++i) dot[i] += Log ? A(g[k * s + i]) : A(g[k * s + i]) * A(y[k * s + i]);
  for (int64_t k = 0; k < size; ++k) {
    for (int64_t i = 0; i < w; ++i) {
      const A yv = A(y[k * s + i]), gv = A(g[k * s + i]);
      gx[k * s + i] = T(Log ? gv - std::exp(yv) * dot[i] : yv * (gv - dot[i]));
    }
  }
}

template <typename T, bool Log>
void softmax_forward(const T* x, T* y, const DimLayout& layout) {
  if (layout.inner == 1)
    for_each_tile(layout, [&](int64_t off, int64_t) { softmax_tile<T, Log, true>(x + off, y + off, layout.size, 1, 1); });
  else
    for_each_tile(layout, [&](int64_t off, int64_t w) {
      softmax_tile<T, Log, false>(x + off, y + off, layout.size, layout.inner, w);
    });
}

template <typename T, bool Log>
void softmax_backward(const T* y, const T* g, T* gx, const DimLayout& layout) {
  if (layout.inner == 1)
    for_each_tile(layout, [&](int64_t off, int64_t) {
      softmax_backward_tile<T, Log, true>(y + off, g + off, gx + off, layout.size, 1, 1);
    });
  else
    for_each_tile(layout, [&](int64_t off, int64_t w) {
      softmax_backward_tile<T, Log, false>(y + off, g + off, gx + off, layout.size, layout.inner, w);
    });
}

template <bool Log>
Tensor softmax_op(const Tensor& x, int64_t dim) {
  const char* op = Log ? "log_softmax" : "softmax";
  TESSERA_CHECK(x.defined() && x.is_floating_point(), op, ": expected a floating tensor, got ",
                x.defined() ? dtype_name(x.dtype()) : "undefined", " (convert with to() first)");
  dim = normalize_dim(dim, x.dim(), op);
  const DimLayout layout = detail::dim_layout(x.shape(), dim);
  const Tensor xc = x.detach().contiguous();
  Tensor y = empty(x.shape(), {.dtype = x.dtype()});
  dispatch_floating(x.dtype(), op, [&]<typename T>() { softmax_forward<T, Log>(xc.data_ptr<T>(), y.data_ptr<T>(), layout); });
  autograd::record(Log ? "LogSoftmaxBackward" : "SoftmaxBackward", {x}, {y}, {y},
                   [layout, op](const Grads& g, const Grads& s, const Node&) {
    const Tensor gc = g[0].contiguous();
    Tensor gx = empty(gc.shape(), {.dtype = gc.dtype()});
    dispatch_floating(gx.dtype(), op, [&]<typename T>() {
      softmax_backward<T, Log>(s[0].data_ptr<T>(), gc.data_ptr<T>(), gx.data_ptr<T>(), layout);
    });
    return Grads{gx};
  });
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_op<false>(x, dim); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_op<true>(x, dim); }

}  // namespace tessera
