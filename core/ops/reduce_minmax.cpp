// max and min over all elements and along one dim (values + i64 indices), argmax and argmin. Invariants:
//  - NaN wins (propagates, with the index of the first NaN), and ties keep the first occurrence in index order,
//    as PyTorch on CPU;
//  - along a dim the input is viewed as a contiguous (outer, n, inner) block; each output element scans its n
//    values, blocks of `kColumns` neighbouring outputs at a time so reads stay contiguous when inner > 1;
//  - gradients: along a dim, each output's gradient goes to the index it selected; over all elements it is shared
//    evenly among every element equal to the result (PyTorch's evenly_distribute_backward).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/autograd/node.h"
#include "core/ops/factory.h"
#include "core/ops/reduce.h"
#include "core/ops/reduce_plan.h"
#include "kernels/cpu/parallel.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

constexpr int64_t kColumns = 256;

template <bool kMax, typename A>
bool better(A v, A best) {
  if constexpr (std::is_floating_point_v<A>) {
    if (std::isnan(best)) return false;
    if (std::isnan(v)) return true;
  }
  if constexpr (kMax) return v > best;
  else return v < best;
}

const char* extreme_name(bool is_max) { return is_max ? "max" : "min"; }

// ---- over all elements

template <bool kMax>
Tensor extreme_all(const Tensor& x) {
  const char* op = extreme_name(kMax);
  TESSERA_CHECK(x.numel() > 0, op, "(): expected a non-empty tensor (shape ", shape_str(x.shape()),
                "); reduce along a dim to allow empty results");
  const Tensor in = x.detach().contiguous();
  Tensor out = empty({}, {.dtype = x.dtype()});
  dispatch_all(x.dtype(), op, [&]<typename T>() {
    using A = acc_t<T>;
    const T* p = in.data_ptr<T>();
    const int64_t n = in.numel();
    const int64_t blocks = std::min<int64_t>(64, (n + 32767) / 32768);
    std::vector<A> partial(blocks);
    kernels::cpu::parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t begin = n * b / blocks, end = n * (b + 1) / blocks;
        A best = static_cast<A>(p[begin]);
        for (int64_t i = begin + 1; i < end; ++i)
          if (better<kMax>(static_cast<A>(p[i]), best)) best = static_cast<A>(p[i]);
        partial[b] = best;
      }
    });
    A best = partial[0];
    for (A v : partial)
      if (better<kMax>(v, best)) best = v;
    out.data_ptr<T>()[0] = T(best);
  });
  return out;
}

// grad_in = g / count on every element equal to the result (NaN matches NaN), 0 elsewhere.
Tensor evenly_distribute_backward(const Tensor& grad, const Tensor& input, const Tensor& result) {
  const Tensor in = input.contiguous();
  Tensor out = empty(in.shape(), {.dtype = in.dtype()});
  dispatch_floating(in.dtype(), "max_backward", [&]<typename T>() {
    using A = acc_t<T>;
    const T* p = in.data_ptr<T>();
    T* o = out.data_ptr<T>();
    const A r = static_cast<A>(result.item<double>());
    const bool nan = std::isnan(r);
    auto matches = [&](T v) { return nan ? std::isnan(static_cast<A>(v)) : static_cast<A>(v) == r; };
    const int64_t n = in.numel();
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) count += matches(p[i]);
    const T share = T(A(grad.to(in.dtype()).item<double>()) / A(count));
    for (int64_t i = 0; i < n; ++i) o[i] = matches(p[i]) ? share : T(0.0f);
  });
  return out;
}

template <bool kMax>
Tensor extreme_all_recorded(const Tensor& x) {
  Tensor out = extreme_all<kMax>(x);
  autograd::record(kMax ? "MaxBackward" : "MinBackward", {x}, {out}, {x, out},
                   [](const Grads& g, const Grads& s, const Node&) {
                     return Grads{evenly_distribute_backward(g[0], s[0], s[1])};
                   });
  return out;
}

// ---- along one dim

struct DimLayout {
  int64_t dim = 0, outer = 1, n = 1, inner = 1;
  Shape kept_shape;  // the input's shape with dim as size 1
  Shape out_shape;   // as requested (keepdim or not)
};

DimLayout dim_layout(const Tensor& x, int64_t dim, bool keepdim, const char* op) {
  DimLayout l;
  l.dim = normalize_dim(dim, x.dim(), op);
  if (x.dim() == 0) return l;  // a 0-d tensor reduces to itself
  detail::ReducePlan plan = detail::plan_reduction(x, {l.dim}, keepdim, op);
  l.kept_shape = std::move(plan.kept_shape);
  l.out_shape = std::move(plan.out_shape);
  for (int64_t d = 0; d < l.dim; ++d) l.outer *= x.shape()[d];
  for (int64_t d = l.dim + 1; d < x.dim(); ++d) l.inner *= x.shape()[d];
  l.n = x.shape()[l.dim];
  TESSERA_CHECK(l.n > 0, op, "(): expected reduction dim ", l.dim, " to have non-zero size (input shape ",
                shape_str(x.shape()), ")");
  return l;
}

template <bool kMax>
std::pair<Tensor, Tensor> extreme_dim(const Tensor& x, const DimLayout& l) {
  const char* op = extreme_name(kMax);
  const Tensor in = x.detach().contiguous();
  Tensor values = empty(l.kept_shape, {.dtype = x.dtype()});
  Tensor indices = empty(l.kept_shape, {.dtype = DType::i64});
  dispatch_all(x.dtype(), op, [&]<typename T>() {
    using A = acc_t<T>;
    const T* p = in.data_ptr<T>();
    T* vo = values.data_ptr<T>();
    int64_t* io = indices.data_ptr<int64_t>();
    const int64_t col_blocks = (l.inner + kColumns - 1) / kColumns;
    const int64_t tasks = l.outer * col_blocks;
    const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, l.n * std::min(l.inner, kColumns)));
    kernels::cpu::parallel_for(tasks, grain, [&](int64_t t0, int64_t t1) {
      A best[kColumns];
      int64_t arg[kColumns];
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t o = t / col_blocks;
        const int64_t j0 = (t % col_blocks) * kColumns;
        const int64_t width = std::min(kColumns, l.inner - j0);
        const T* base = p + o * l.n * l.inner + j0;
        for (int64_t j = 0; j < width; ++j) {
          best[j] = static_cast<A>(base[j]);
          arg[j] = 0;
        }
        for (int64_t k = 1; k < l.n; ++k) {
          const T* row = base + k * l.inner;
          for (int64_t j = 0; j < width; ++j) {
            const A v = static_cast<A>(row[j]);
            if (better<kMax>(v, best[j])) {
              best[j] = v;
              arg[j] = k;
            }
          }
        }
        for (int64_t j = 0; j < width; ++j) {
          vo[o * l.inner + j0 + j] = T(best[j]);
          io[o * l.inner + j0 + j] = arg[j];
        }
      }
    });
  });
  return {values.reshape(l.out_shape), indices.reshape(l.out_shape)};
}

// Scatters each output gradient to the input element its index selected; zeros elsewhere.
Tensor selected_index_backward(const Tensor& grad, const Tensor& indices, const DimLayout& l, const Shape& input_shape,
                             DType dtype) {
  Tensor out = zeros(input_shape, {.dtype = dtype});
  const Tensor g = grad.to(dtype).contiguous();
  const Tensor idx = indices.contiguous();
  dispatch_floating(dtype, "max_backward", [&]<typename T>() {
    const T* gp = g.data_ptr<T>();
    const int64_t* ip = idx.data_ptr<int64_t>();
    T* o = out.data_ptr<T>();
    kernels::cpu::parallel_for(l.outer * l.inner, 32768, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t outer = c / l.inner, j = c % l.inner;
        o[(outer * l.n + ip[c]) * l.inner + j] = gp[c];
      }
    });
  });
  return out;
}

template <bool kMax>
std::pair<Tensor, Tensor> extreme_dim_recorded(const Tensor& x, int64_t dim, bool keepdim) {
  const DimLayout l = dim_layout(x, dim, keepdim, extreme_name(kMax));
  auto [values, indices] = extreme_dim<kMax>(x, l);
  autograd::record(kMax ? "MaxBackward" : "MinBackward", {x}, {values, indices}, {indices},
                   [l](const Grads& g, const Grads& s, const Node& n) {
                     return Grads{selected_index_backward(g[0], s[0], l, n.input_meta[0].shape,
                                                        n.input_meta[0].dtype)};
                   });
  return {values, indices};
}

template <bool kMax>
Tensor arg_extreme(const Tensor& x, int64_t dim, bool keepdim) {
  const char* op = kMax ? "argmax" : "argmin";
  TESSERA_CHECK(x.dtype() != DType::boolean, op, ": not defined for bool tensors (shape ", shape_str(x.shape()), ")");
  return extreme_dim<kMax>(x, dim_layout(x, dim, keepdim, op)).second;
}

}  // namespace

Tensor max(const Tensor& x) { return extreme_all_recorded<true>(x); }
Tensor min(const Tensor& x) { return extreme_all_recorded<false>(x); }
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_dim_recorded<true>(x, dim, keepdim);
}
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_dim_recorded<false>(x, dim, keepdim);
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return arg_extreme<true>(x, dim, keepdim); }
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) { return arg_extreme<false>(x, dim, keepdim); }

}  // namespace tessera
