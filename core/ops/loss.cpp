// Losses with PyTorch's semantics: cross_entropy (fused log-softmax + NLL + label smoothing), nll_loss, mse_loss
// (fused: one node, diff saved for backward; input and target must have the same shape and dtype).
// Invariants:
//  - class inputs are walked as (N, C, inner) (index_util.h; an unbatched (C) input is N = 1) and targets are
//    validated before any kernel runs: each is a class in [0, C) or ignore_index, which adds 0 loss and 0 gradient
//    and is not counted by the mean (a mean over no counted target is NaN, as in PyTorch). The check is one
//    backend call whose three numbers (count, first bad position and value) the host copies back: the only host
//    read a loss makes, since an out-of-range target must be an error naming it, and the mean needs the count;
//  - cross_entropy with smoothing eps is, per element, (1 - eps) * nll + (eps / C) * sum_c(-log p_c): PyTorch's
//    formula (without class weights both terms share the mean's denominator, so they fuse per element). It is
//    computed from shifted logits z = x - max, so loss = log(sum exp z) - (1 - eps) z_t - (eps / C) sum z;
//  - the fused forward saves the softmax, so backward is one pass: dL/dx_c = p_c - (1 - eps)[c == t] - eps / C,
//    times the upstream gradient (over the count for mean). bf16/f16 logits are computed in f32.
// The loops are the backend's loss entries (kernels/cpu/loss.cpp); the upstream gradient stays on the device.

#include "core/autograd/node.h"
#include "core/amp/autocast.h"
#include "core/backend_of.h"
#include "core/ops/elementwise.h"
#include "core/ops/factory.h"
#include "core/ops/index_util.h"
#include "core/ops/nn_common.h"
#include "core/ops/nn_functional.h"
#include "core/ops/pointwise.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;
using kernels::ReduceShape;

namespace {

struct ClassProblem {
  ReduceShape layout;  // input as (N, C, inner)
  Shape loss_shape;   // shape of the per-element loss: the target's
  Tensor target;      // contiguous i64, validated; element r = (n, i) pairs with row (n, :, i) of the input
  Tensor count;       // i64 scalar on the device: targets that are not ignore_index (a mean's divisor)
};

// Checks the targets and counts those that count, on their device, without a host read: the CPU throws for a bad
// target at once, a GPU at the next synchronisation (kernels::Backend::check_class_targets).
Tensor check_targets(const Tensor& target, const Shape& input_shape, int64_t classes, int64_t ignore_index,
                     const char* op) {
  Tensor count = empty({}, {.dtype = DType::i64, .device = target.device()});
  const std::string context = detail::concat(classes, " classes (input of shape ", shape_str(input_shape), ")");
  backend_of(target.device())
      .check_class_targets(static_cast<const int64_t*>(target.raw_data()), target.numel(), ignore_index,
                           {.size = classes, .op = op, .what = "target", .context = context.c_str()},
                           static_cast<int64_t*>(count.raw_data()));
  return count;
}

ClassProblem plan_classes(const Tensor& input, const Tensor& target, int64_t ignore_index, const char* op) {
  TESSERA_CHECK(input.defined() && input.dim() >= 1, op,
                ": expected input of shape (C), (N, C) or (N, C, d1, ...), got a 0-d tensor");
  TESSERA_CHECK(input.is_floating_point(), op, ": expected a floating input, got ", dtype_name(input.dtype()));
  TESSERA_CHECK(target.defined() && is_integral(target.dtype()) && target.dtype() != DType::boolean, op,
                ": expected a target of integer class indices (i64), got ",
                target.defined() ? dtype_name(target.dtype()) : "undefined",
                " (class-probability targets are not supported)");
  Shape expected;
  if (input.dim() > 1) {
    expected.push_back(input.shape()[0]);
    expected.insert(expected.end(), input.shape().begin() + 2, input.shape().end());
  }
  TESSERA_CHECK(target.shape() == expected, op, ": expected a target of shape ", shape_str(expected),
                " for input of shape ", shape_str(input.shape()), ", got ", shape_str(target.shape()));
  detail::common_device(op, {&input, &target});
  ClassProblem plan;
  const detail::DimLayout l = detail::dim_layout(input.shape(), input.dim() > 1 ? 1 : 0);
  plan.layout = {.outer = l.outer, .n = l.size, .inner = l.inner};
  plan.loss_shape = expected;
  plan.target = detail::index_as_i64(target, op, "target");
  plan.count = check_targets(plan.target, input.shape(), l.size, ignore_index, op);
  return plan;
}

// The divisor of a reduced loss: the count for mean (0 / 0 is NaN, as PyTorch), 1 for sum. A class loss's count
// lives on the device (`count` set); MSE's is the element count.
struct LossDivisor {
  double value = 1.0;
  const int64_t* count = nullptr;
};

LossDivisor divisor_of(Reduction reduction, int64_t n) {
  return {.value = reduction == Reduction::mean ? static_cast<double>(n) : 1.0};
}
LossDivisor divisor_of(Reduction reduction, const Tensor& count) {
  if (reduction != Reduction::mean) return {};
  return {.count = static_cast<const int64_t*>(count.raw_data())};
}

// The loss for `reduction` from the per-element losses (summed in double by the backend).
Tensor reduce_losses(const Tensor& losses, Reduction reduction, const Tensor& count) {
  if (reduction == Reduction::none) return losses;
  Tensor out = empty({}, {.dtype = losses.dtype(), .device = losses.device()});
  const LossDivisor divisor = divisor_of(reduction, count);
  backend_of(losses.device())
      .sum_losses(losses.raw_data(), out.raw_data(), losses.dtype(), losses.numel(), divisor.value, divisor.count);
  return out;
}

// The upstream gradient as the backend reads it; `holder` keeps a converted or contiguous copy alive.
kernels::Backend::LossGrad loss_grad(const Tensor& g, DType dtype, Reduction reduction, LossDivisor divisor,
                                     Tensor& holder) {
  holder = g.to(dtype).contiguous();
  return {.data = holder.raw_data(), .per_element = reduction == Reduction::none, .divisor = divisor.value,
          .count = divisor.count};
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction, int64_t ignore_index,
                     double label_smoothing) {
  TESSERA_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
                "cross_entropy: label_smoothing must be in [0, 1], got ", label_smoothing);
  ClassProblem plan = plan_classes(logits, target, ignore_index, "cross_entropy");
  // bf16/f16 logits are computed in f32 by the backend itself (read into f32, their gradient rounded once): what
  // converting them first and the gradient after gives, without those two kernels. The loss is f32 under autocast
  // (its policy), else of the logits' dtype.
  const Tensor x = logits.detach().contiguous();
  const bool half = x.dtype() == DType::bf16 || x.dtype() == DType::f16;
  const DType compute = half ? DType::f32 : x.dtype();
  Tensor probs = empty(x.shape(), {.dtype = compute, .device = x.device()});
  Tensor losses = empty(plan.loss_shape, {.dtype = compute, .device = x.device()});
  backend_of(x.device()).cross_entropy(x.raw_data(), static_cast<const int64_t*>(plan.target.raw_data()),
                                       probs.raw_data(), losses.raw_data(), compute, x.dtype(), plan.layout,
                                       ignore_index, label_smoothing);
  Tensor out = reduce_losses(losses, reduction, plan.count);
  autograd::record("CrossEntropyBackward", {logits}, {out}, {probs, plan.target},
                   [layout = plan.layout, count = plan.count, reduction, ignore_index, label_smoothing,
                    io_dtype = x.dtype()](const Grads& g, const Grads& s, const Node&) {
    const Device device = detail::common_device("cross_entropy_backward", {&g[0], &s[0]});
    const DType compute = s[0].dtype();
    Tensor gx = empty(s[0].shape(), {.dtype = io_dtype, .device = device});
    Tensor holder;
    backend_of(device).cross_entropy_backward(s[0].raw_data(), static_cast<const int64_t*>(s[1].raw_data()),
                                              loss_grad(g[0], compute, reduction, divisor_of(reduction, count),
                                                        holder),
                                              gx.raw_data(), compute, io_dtype, layout, ignore_index,
                                              label_smoothing);
    return Grads{gx};
  });
  return half && !amp::autocast_enabled() ? out.to(x.dtype()) : out;
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction, int64_t ignore_index) {
  if (amp::casts_to_f32({&log_probs})) return nll_loss(amp::to_f32(log_probs), target, reduction, ignore_index);
  ClassProblem plan = plan_classes(log_probs, target, ignore_index, "nll_loss");
  const Tensor x = log_probs.detach().contiguous();
  Tensor losses = empty(plan.loss_shape, {.dtype = x.dtype(), .device = x.device()});
  backend_of(x.device()).nll_loss(x.raw_data(), static_cast<const int64_t*>(plan.target.raw_data()),
                                  losses.raw_data(), x.dtype(), plan.layout, ignore_index);
  Tensor out = reduce_losses(losses, reduction, plan.count);
  autograd::record("NllLossBackward", {log_probs}, {out}, {plan.target},
                   [layout = plan.layout, count = plan.count, reduction, ignore_index](const Grads& g, const Grads& s,
                                                                                       const Node& n) {
    const Device device = detail::common_device("nll_loss_backward", {&g[0], &s[0]});
    Tensor gx = zeros(n.input_meta[0].shape, {.dtype = g[0].dtype(), .device = device});
    Tensor holder;
    backend_of(device).nll_loss_backward(static_cast<const int64_t*>(s[0].raw_data()),
                                         loss_grad(g[0], gx.dtype(), reduction, divisor_of(reduction, count),
                                                   holder),
                                         gx.raw_data(),
                                         gx.dtype(), layout, ignore_index);
    return Grads{gx};
  });
  return out;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (amp::casts_to_f32({&input, &target})) return mse_loss(amp::to_f32(input), amp::to_f32(target), reduction);
  detail::check_loss_pair("mse_loss", input, target);
  const Device device = detail::common_device("mse_loss", {&input, &target});
  // One pass: diff = input - target (saved for backward) and the squares (or their sum, in double).
  const Tensor a = input.detach().contiguous(), b = target.detach().contiguous();
  const int64_t n = a.numel();
  const TensorOptions options{.dtype = a.dtype(), .device = device};
  Tensor diff = empty(a.shape(), options);
  Tensor out = empty(reduction == Reduction::none ? a.shape() : Shape{}, options);
  backend_of(device).mse_loss(a.raw_data(), b.raw_data(), diff.raw_data(),
                              reduction == Reduction::none ? out.raw_data() : nullptr,
                              reduction == Reduction::none ? nullptr : out.raw_data(), a.dtype(), n,
                              divisor_of(reduction, n).value);
  autograd::record("MseLossBackward", {input, target}, {out}, {diff},
                   [reduction, n](const Grads& g, const Grads& s, const Node& node) {
    const Device device = detail::common_device("mse_loss_backward", {&g[0], &s[0]});
    Tensor grad = empty(s[0].shape(), {.dtype = s[0].dtype(), .device = device});
    Tensor holder;
    backend_of(device).mse_loss_backward(s[0].raw_data(),
                                         loss_grad(g[0], grad.dtype(), reduction, divisor_of(reduction, n), holder),
                                         grad.raw_data(), grad.dtype(), n);
    return Grads{node.needs_input_grad(0) ? grad : Tensor(), node.needs_input_grad(1) ? neg(grad) : Tensor()};
  });
  return out;
}

}  // namespace tessera
