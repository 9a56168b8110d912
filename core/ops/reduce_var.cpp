// var: the input is viewed as (kept..., reduced...) rows; the backend takes each row's mean and sum of squared
// deviations in two passes in double (no cancellation, f32 agrees with PyTorch to rounding). The divisor is
// max(0, N - correction), so a single element with unbiased=true gives NaN, as in PyTorch. Backward is PyTorch's
// var_backward: 2 / (N - correction) * grad * (x - mean(x)).
#include <algorithm>

#include "core/autograd/node.h"
#include "core/backend_of.h"
#include "core/ops/pointwise.h"
#include "core/ops/reduce.h"
#include "core/ops/reduce_plan.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

Tensor var(const Tensor& x, const Shape& dims, bool unbiased, bool keepdim) {
  TESSERA_CHECK(x.is_floating_point(), "var: expected a floating tensor, got ", dtype_name(x.dtype()), " (shape ",
                shape_str(x.shape()), ")");
  const detail::ReducePlan plan = detail::plan_reduction(x, dims, keepdim, "var");
  const int64_t count = plan.count;
  const Tensor rows = detail::reduction_rows(x, plan);
  const double divisor = static_cast<double>(std::max<int64_t>(0, count - (unbiased ? 1 : 0)));

  Tensor out = empty(plan.kept_shape, {.dtype = x.dtype(), .device = x.device()});
  backend_of(x.device()).variance(rows.raw_data(), out.raw_data(), x.dtype(),
                                  {.outer = out.numel(), .n = count, .inner = 1}, divisor);
  out = out.reshape(plan.out_shape);
  autograd::record("VarBackward", {x}, {out}, {x},
                   [dims, divisor, kept_shape = plan.kept_shape](const Grads& g, const Grads& s, const Node&) {
                     const Tensor centered = sub(s[0], mean(s[0], dims, /*keepdim=*/true));
                     return Grads{mul(mul(g[0].reshape(kept_shape), 2.0 / divisor), centered)};
                   });
  return out;
}

}  // namespace tessera
