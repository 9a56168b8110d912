// var: the input is viewed as (kept..., reduced...) rows; each row's mean and sum of squared deviations are
// taken in two passes in double (no cancellation, f32 agrees with PyTorch to rounding). The divisor is
// max(0, N - correction), so a single element with unbiased=true gives NaN, as in PyTorch. Backward is PyTorch's
// var_backward: 2 / (N - correction) * grad * (x - mean(x)).
#include <algorithm>

#include "core/autograd/node.h"
#include "core/ops/pointwise.h"
#include "core/ops/reduce.h"
#include "core/ops/reduce_plan.h"
#include "kernels/cpu/parallel.h"

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

  Tensor out = empty(plan.kept_shape, {.dtype = x.dtype()});
  dispatch_floating(x.dtype(), "var", [&]<typename T>() {
    const T* in = rows.data_ptr<T>();
    T* o = out.data_ptr<T>();
    kernels::cpu::parallel_for(out.numel(), std::max<int64_t>(1, 16384 / std::max<int64_t>(count, 1)),
                               [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* p = in + r * count;
        double sum = 0;
        for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(p[i]);
        const double mean = sum / static_cast<double>(count);
        double squares = 0;
        for (int64_t i = 0; i < count; ++i) {
          const double d = static_cast<double>(p[i]) - mean;
          squares += d * d;
        }
        o[r] = T(static_cast<acc_t<T>>(squares / divisor));
      }
    });
  });
  out = out.reshape(plan.out_shape);
  autograd::record("VarBackward", {x}, {out}, {x},
                   [dims, divisor, kept_shape = plan.kept_shape](const Grads& g, const Grads& s, const Node&) {
                     const Tensor centered = sub(s[0], mean(s[0], dims, /*keepdim=*/true));
                     return Grads{mul(mul(g[0].reshape(kept_shape), 2.0 / divisor), centered)};
                   });
  return out;
}

}  // namespace tessera
