#pragma once
// Internal: the shape bookkeeping every reduction shares (sum/mean, var, max/min along a dim). The input is viewed
// as (kept..., reduced...): each output element reduces one run of `count` values. Invariants:
//  - empty `dims` reduces every dim; dims are normalised (negative allowed); a dim named twice is an error, as in
//    PyTorch (sum over (0, -2) of a matrix is almost surely a typo, not a request to reduce dim 0 once);
//  - a 0-d tensor reduces to itself (count 1, empty shapes);
//  - kept_shape is the input shape with reduced dims as 1 (the gradient's broadcast shape), out_shape drops them
//    unless keepdim.
#include <algorithm>
#include <vector>

#include "core/ops/view.h"
#include "core/tensor.h"

namespace tessera::detail {

struct ReducePlan {
  std::vector<bool> reduced;  // per input dim
  Shape kept_shape;           // output shape with keepdim=true
  Shape out_shape;            // output shape as requested
  int64_t count = 1;          // elements reduced into each output
};

inline ReducePlan plan_reduction(const Tensor& x, const Shape& dims, bool keepdim, const char* op) {
  ReducePlan plan;
  plan.reduced.assign(x.dim(), dims.empty());
  std::vector<bool> named(std::max<int64_t>(x.dim(), 1), false);  // a 0-d tensor accepts dim 0 (and -1)
  for (int64_t d : dims) {
    const int64_t nd = normalize_dim(d, x.dim(), op);
    TESSERA_CHECK(!named[nd], op, ": dim ", nd, " appears multiple times in the list of dims");
    named[nd] = true;
    if (x.dim() > 0) plan.reduced[nd] = true;
  }
  for (int64_t d = 0; d < x.dim(); ++d) {
    plan.kept_shape.push_back(plan.reduced[d] ? 1 : x.shape()[d]);
    if (plan.reduced[d]) plan.count *= x.shape()[d];
    if (!plan.reduced[d] || keepdim) plan.out_shape.push_back(plan.kept_shape.back());
  }
  return plan;
}

// x (detached) permuted to (kept..., reduced...) and made contiguous: row r holds output r's `count` values.
inline Tensor reduction_rows(const Tensor& x, const ReducePlan& plan) {
  if (x.dim() == 0) return x.detach();
  Shape order;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!plan.reduced[d]) order.push_back(d);
  for (int64_t d = 0; d < x.dim(); ++d)
    if (plan.reduced[d]) order.push_back(d);
  return permute(x.detach(), order).contiguous();
}

}  // namespace tessera::detail
