// sum and mean. The input is viewed as (kept..., reduced...) so each output element is the sum of one run of
// values; runs are accumulated in double (f32 sums then agree with PyTorch's cascade sums to ~1e-7).
#include <numeric>

#include "core/autograd/node.h"
#include "core/ops/elementwise.h"
#include "core/ops/factory.h"
#include "core/ops/reduce.h"
#include "core/ops/reduce_plan.h"
#include "kernels/cpu/parallel.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

using detail::plan_reduction;
using detail::ReducePlan;

template <typename T>
void sum_rows(const Tensor& rows, Tensor& out, int64_t n_rows, int64_t row_len) {
  using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
  const T* in = rows.data_ptr<T>();
  T* o = out.data_ptr<T>();
  kernels::cpu::parallel_for(n_rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(row_len, 1)),
                             [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* p = in + r * row_len;
      Acc acc = 0;
      for (int64_t i = 0; i < row_len; ++i) acc += static_cast<Acc>(static_cast<acc_t<T>>(p[i]));
      o[r] = static_cast<T>(static_cast<acc_t<T>>(acc));
    }
  });
}

// Sums a contiguous (outer, inner) block over `outer` for each of `inner` columns: the bias-gradient case.
template <typename T>
void sum_columns(const Tensor& x, Tensor& out, int64_t outer, int64_t inner) {
  using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
  const T* in = x.data_ptr<T>();
  T* o = out.data_ptr<T>();
  kernels::cpu::parallel_for(inner, 256, [&](int64_t begin, int64_t end) {
    std::vector<Acc> acc(end - begin, 0);
    for (int64_t r = 0; r < outer; ++r) {
      const T* p = in + r * inner;
      for (int64_t c = begin; c < end; ++c) acc[c - begin] += static_cast<Acc>(static_cast<acc_t<T>>(p[c]));
    }
    for (int64_t c = begin; c < end; ++c) o[c] = static_cast<T>(static_cast<acc_t<T>>(acc[c - begin]));
  });
}

Tensor sum_forward(const Tensor& input, const ReducePlan& plan) {
  // Sums of bool and u8 count in i64, as PyTorch's do.
  const DType type = is_integral(input.dtype()) ? DType::i64 : input.dtype();
  Tensor x = input.to(type);
  Tensor out = empty(plan.kept_shape, {.dtype = type});
  const int64_t n_out = out.numel();
  // Leading reduced dims of a contiguous tensor: reduce columns without a transpose.
  int64_t lead = 0;
  while (lead < x.dim() && plan.reduced[lead]) ++lead;
  bool trailing_kept = true;
  for (int64_t d = lead; d < x.dim(); ++d) trailing_kept = trailing_kept && !plan.reduced[d];
  dispatch_numeric(type, "sum", [&]<typename T>() {
    if (x.is_contiguous() && trailing_kept && lead > 0 && n_out > 1) {
      sum_columns<T>(x, out, plan.count, n_out);
      return;
    }
    sum_rows<T>(detail::reduction_rows(x, plan), out, n_out, plan.count);
  });
  return out.reshape(plan.out_shape).detach();
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
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
  ReducePlan plan = plan_reduction(x, dims, keepdim, "mean");
  return mul(sum(x, dims, keepdim), 1.0 / static_cast<double>(plan.count));
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

}  // namespace tessera
