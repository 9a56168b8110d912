// max and min over all elements and along one dim (values + i64 indices), argmax and argmin. Invariants:
//  - NaN wins (propagates, with the index of the first NaN), and ties keep the first occurrence in index order,
//    as PyTorch on CPU;
//  - along a dim the input is viewed as a contiguous (outer, n, inner) block the backend scans;
//  - gradients: along a dim, each output's gradient goes to the index it selected; over all elements it is shared
//    evenly among every element equal to the result (PyTorch's evenly_distribute_backward).
#include "core/autograd/node.h"
#include "core/backend_of.h"
#include "core/ops/elementwise.h"
#include "core/ops/factory.h"
#include "core/ops/reduce.h"
#include "core/ops/reduce_plan.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

const char* extreme_name(bool is_max) { return is_max ? "max" : "min"; }

// ---- over all elements

template <bool kMax>
Tensor extreme_all(const Tensor& x) {
  const char* op = extreme_name(kMax);
  TESSERA_CHECK(x.numel() > 0, op, "(): expected a non-empty tensor (shape ", shape_str(x.shape()),
                "); reduce along a dim to allow empty results");
  const Tensor in = x.detach().contiguous();
  Tensor out = empty({}, {.dtype = x.dtype(), .device = x.device()});
  Tensor index = empty({}, {.dtype = DType::i64, .device = x.device()});
  backend_of(x.device()).extreme(kMax, in.raw_data(), out.raw_data(), static_cast<int64_t*>(index.raw_data()),
                                 x.dtype(), {.outer = 1, .n = in.numel(), .inner = 1});
  return out;
}

// grad_in = g / count on every element equal to the result (NaN matches NaN), 0 elsewhere; computed with device
// ops, so neither the result nor the count is read on the host.
Tensor evenly_distribute_backward(const Tensor& grad, const Tensor& input, const Tensor& result) {
  const Tensor in = input.detach();
  const Tensor nan_result = ne(result, result);
  const Tensor matches = logical_not(mul(logical_not(eq(in, result)), logical_not(mul(ne(in, in), nan_result))));
  const DType compute = detail::float_result_type(in.dtype()) == DType::f64 ? DType::f64 : DType::f32;
  const Tensor count = sum(matches.to(compute));
  const Tensor share = div(grad.detach().to(compute), count).to(in.dtype());
  return where(matches, share, zeros({}, {.dtype = in.dtype(), .device = in.device()}));
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
  const Tensor in = x.detach().contiguous();
  Tensor values = empty(l.kept_shape, {.dtype = x.dtype(), .device = x.device()});
  Tensor indices = empty(l.kept_shape, {.dtype = DType::i64, .device = x.device()});
  backend_of(x.device()).extreme(kMax, in.raw_data(), values.raw_data(), static_cast<int64_t*>(indices.raw_data()),
                                 x.dtype(), {.outer = l.outer, .n = l.n, .inner = l.inner});
  return {values.reshape(l.out_shape), indices.reshape(l.out_shape)};
}

// Scatters each output gradient to the input element its index selected; zeros elsewhere.
Tensor selected_index_backward(const Tensor& grad, const Tensor& indices, const DimLayout& l, const Shape& input_shape,
                               DType dtype) {
  Tensor out = zeros(input_shape, {.dtype = dtype, .device = grad.device()});
  const Tensor g = grad.to(dtype).contiguous();
  const Tensor idx = indices.contiguous();
  backend_of(grad.device()).extreme_backward(g.raw_data(), static_cast<const int64_t*>(idx.raw_data()),
                                             out.raw_data(), dtype, {.outer = l.outer, .n = l.n, .inner = l.inner});
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
