// sum and mean. The input is viewed as (kept..., reduced...) so each output element is the sum of one run of
// values, summed by the backend (in double: f32 sums then agree with PyTorch's cascade sums to ~1e-7).
#include <numeric>

#include "core/amp/autocast.h"
#include "core/autograd/node.h"
#include "core/backend_of.h"
#include "core/ops/pointwise.h"
#include "core/ops/factory.h"
#include "core/ops/nn_common.h"
#include "core/ops/reduce.h"
#include "core/ops/reduce_plan.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

using detail::plan_reduction;
using detail::ReducePlan;

Tensor sum_forward(const Tensor& input, const ReducePlan& plan) {
  // Sums of bool and u8 count in i64, as PyTorch's do.
  const DType type = is_integral(input.dtype()) ? DType::i64 : input.dtype();
  const Tensor x = input.detach().to(type);
  Tensor out = empty(plan.kept_shape, {.dtype = type, .device = x.device()});
  const int64_t n_out = out.numel();
  // Leading reduced dims of a contiguous tensor: reduce columns without a transpose.
  int64_t lead = 0;
  while (lead < x.dim() && plan.reduced[lead]) ++lead;
  bool trailing_kept = true;
  for (int64_t d = lead; d < x.dim(); ++d) trailing_kept = trailing_kept && !plan.reduced[d];
  if (x.is_contiguous() && trailing_kept && lead > 0 && n_out > 1) {
    backend_of(x.device()).sum(x.raw_data(), out.raw_data(), type, {.outer = 1, .n = plan.count, .inner = n_out});
  } else {
    const Tensor rows = detail::reduction_rows(x, plan);
    backend_of(x.device()).sum(rows.raw_data(), out.raw_data(), type, {.outer = n_out, .n = plan.count, .inner = 1});
  }
  return out.reshape(plan.out_shape).detach();
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  if (amp::casts_to_f32({&x})) return sum(amp::to_f32(x), dims, keepdim);  // autocast's f32 list, as in PyTorch
  ReducePlan plan = plan_reduction(x, dims, keepdim, "sum");
  Tensor out = sum_forward(x, plan);
  autograd::record("SumBackward", {x}, {out}, {}, [kept = plan.kept_shape](const Grads& g, const Grads&,
                                                                           const Node& n) {
    return Grads{g[0].reshape(kept).expand(n.input_meta[0].shape).contiguous()};
  });
  return out;
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  TESSERA_CHECK(x.is_floating_point(), "mean: expected a floating tensor, got ", dtype_name(x.dtype()),
                " (convert with to() first)");
  // mean is on none of autocast's lists: it keeps a bf16/f16 input's dtype (its sum is not autocast's).
  if (amp::autocast_enabled()) {
    amp::AutocastGuard plain(amp::autocast_dtype(), /*enabled=*/false);
    return mean(x, dims, keepdim);
  }
  // A bf16/f16 mean rounds once, as PyTorch's: the sum and the division in f32, then the input's dtype.
  if (detail::computes_in_f32(x.dtype())) return mean(x.to(DType::f32), dims, keepdim).to(x.dtype());
  ReducePlan plan = plan_reduction(x, dims, keepdim, "mean");
  return mul(sum(x, dims, keepdim), 1.0 / static_cast<double>(plan.count));
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

}  // namespace tessera
