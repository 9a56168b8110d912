// Losses with PyTorch's semantics: cross_entropy (fused log-softmax + NLL + label smoothing), nll_loss, mse_loss
// (fused: one node, diff saved for backward; input and target must have the same shape and dtype).
// Invariants:
//  - class inputs are walked as (N, C, inner) (index_util.h; an unbatched (C) input is N = 1) and targets are
//    validated before any kernel runs: each is a class in [0, C) or ignore_index, which adds 0 loss and 0 gradient
//    and is not counted by the mean (a mean over no counted target is NaN, as in PyTorch);
//  - cross_entropy with smoothing eps is, per element, (1 - eps) * nll + (eps / C) * sum_c(-log p_c): PyTorch's
//    formula (without class weights both terms share the mean's denominator, so they fuse per element). It is
//    computed from shifted logits z = x - max, so loss = log(sum exp z) - (1 - eps) z_t - (eps / C) sum z;
//  - the fused forward saves the softmax, so backward is one pass: dL/dx_c = p_c - (1 - eps)[c == t] - eps / C,
//    times the upstream gradient (over the count for mean). bf16/f16 logits are computed in f32.
#include <cmath>
#include <limits>

#include "core/autograd/node.h"
#include "core/ops/factory.h"
#include "core/ops/index_util.h"
#include "core/ops/nn_functional.h"
#include "core/ops/pointwise.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/cpu/parallel.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;
using detail::DimLayout;
namespace kc = kernels::cpu;

namespace {

struct ClassProblem {
  DimLayout layout;  // input as (N, C, inner)
  Shape loss_shape;  // shape of the per-element loss: the target's
  Tensor target;     // contiguous i64, validated; element r = (n, i) pairs with row (n, :, i) of the input
  int64_t count = 0; // targets that are not ignore_index
};

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
  ClassProblem plan;
  plan.layout = detail::dim_layout(input.shape(), input.dim() > 1 ? 1 : 0);
  plan.loss_shape = expected;
  plan.target = detail::index_as_i64(target, op, "target");
  plan.count = detail::check_index_range(plan.target, plan.layout.size, op, "target",
                                         detail::concat(plan.layout.size, " classes (input of shape ",
                                                        shape_str(input.shape()), ")"),
                                         ignore_index);
  return plan;
}

// The loss for `reduction` from the per-element losses (sums in double).
Tensor reduce_losses(const Tensor& losses, Reduction reduction, int64_t count) {
  if (reduction == Reduction::none) return losses;
  double total = 0;
  dispatch_floating(losses.dtype(), "loss", [&]<typename T>() {
    const T* p = losses.data_ptr<T>();
    for (int64_t i = 0; i < losses.numel(); ++i) total += static_cast<double>(static_cast<acc_t<T>>(p[i]));
  });
  if (reduction == Reduction::mean) total /= static_cast<double>(count);  // 0 / 0 -> NaN, as PyTorch
  return scalar_tensor(total, {.dtype = losses.dtype()});
}

// The upstream gradient per loss element: g itself (reduction none), or one value (g, over the count for mean).
template <typename T>
struct Upstream {
  Tensor holder;
  const T* values = nullptr;
  acc_t<T> uniform = 0;
  acc_t<T> at(int64_t r) const { return values ? acc_t<T>(values[r]) : uniform; }
};

template <typename T>
Upstream<T> upstream(const Tensor& g, Reduction reduction, int64_t count) {
  Upstream<T> up;
  if (reduction == Reduction::none) {
    up.holder = g.contiguous();
    up.values = up.holder.template data_ptr<T>();
  } else {
    const double v = g.item<double>();
    up.uniform = static_cast<acc_t<T>>(reduction == Reduction::mean ? v / static_cast<double>(count) : v);
  }
  return up;
}

// Calls fn(r, offset) for every loss element r, with `offset` the input position of its class 0 (classes are
// layout.inner apart), in parallel over elements.
template <typename F>
void for_each_row(const DimLayout& layout, F&& fn) {
  const int64_t inner = layout.inner, row_span = layout.size * inner;
  kc::parallel_for(layout.outer * inner, std::max<int64_t>(1, 8192 / std::max<int64_t>(layout.size, 1)),
                   [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) fn(r, (r / inner) * row_span + r % inner);
  });
}

struct SmoothedTarget {
  int64_t target;
  int64_t ignore_index;
  double eps;
};

// The smoothed cross-entropy of one row from its max, sum of exp(x - max) and sum of x (0 when ignored).
template <typename T>
T smoothed_loss(T x_target, T mx, T sum_exp, T sum_x, int64_t classes, const SmoothedTarget& st) {
  if (st.target == st.ignore_index) return T(0);
  const T eps = static_cast<T>(st.eps);
  T loss = std::log(sum_exp) - (T(1) - eps) * (x_target - mx);
  if (st.eps != 0.0) loss -= eps / static_cast<T>(classes) * (sum_x - static_cast<T>(classes) * mx);
  return loss;
}

// Softmax of one contiguous row into p (vectorised passes, kernels/cpu/vec_math.h); returns the row's loss.
template <typename T>
T cross_entropy_row(const T* x, T* p, int64_t classes, const SmoothedTarget& st) {
  T mx, sum;
  detail::exp_row(x, p, classes, mx, sum);
  detail::scale_shift(p, p, classes, T(1) / sum, T(0));
  const T sum_x = st.eps != 0.0 ? detail::row_sum(x, classes) : T(0);
  return smoothed_loss(st.target == st.ignore_index ? T(0) : x[st.target], mx, sum, sum_x, classes, st);
}

// The same for a row whose classes are `stride` apart ((N, C, d...) inputs).
template <typename T>
T cross_entropy_strided_row(const T* x, T* p, int64_t classes, int64_t stride, const SmoothedTarget& st) {
  T mx = -std::numeric_limits<T>::infinity(), sum = 0, sum_x = 0;
  for (int64_t c = 0; c < classes; ++c) mx = std::max(mx, x[c * stride]);
  for (int64_t c = 0; c < classes; ++c) {
    p[c * stride] = std::exp(x[c * stride] - mx);
    sum += p[c * stride];
    sum_x += x[c * stride];
  }
  const T inv = T(1) / sum;
  for (int64_t c = 0; c < classes; ++c) p[c * stride] *= inv;
  return smoothed_loss(st.target == st.ignore_index ? T(0) : x[st.target * stride], mx, sum, sum_x, classes, st);
}

// dL/dx_c = scale * (p_c - eps / C - (1 - eps)[c == t]); zero for an ignored row. Classes `stride` apart.
template <typename T, bool Unit>
void cross_entropy_row_backward(const T* p, T* gx, int64_t classes, int64_t stride, const SmoothedTarget& st, T scale) {
  const int64_t s = Unit ? 1 : stride;
  if (st.target == st.ignore_index) {
    for (int64_t c = 0; c < classes; ++c) gx[c * s] = T(0);
    return;
  }
  const T off = static_cast<T>(st.eps) / static_cast<T>(classes);
  for (int64_t c = 0; c < classes; ++c) gx[c * s] = scale * (p[c * s] - off);
  gx[st.target * s] -= scale * (T(1) - static_cast<T>(st.eps));
}

// f32/f64 cross_entropy on contiguous logits x: fills probs and per-element losses.
template <typename T>
void cross_entropy_forward(const T* x, T* probs, T* losses, const ClassProblem& plan, int64_t ignore_index,
                           double eps) {
  const int64_t* t = plan.target.data_ptr<int64_t>();
  const int64_t classes = plan.layout.size, inner = plan.layout.inner;
  for_each_row(plan.layout, [&](int64_t r, int64_t off) {
    const SmoothedTarget st{t[r], ignore_index, eps};
    losses[r] = inner == 1 ? cross_entropy_row<T>(x + off, probs + off, classes, st)
                           : cross_entropy_strided_row<T>(x + off, probs + off, classes, inner, st);
  });
}

template <typename T>
void cross_entropy_backward(const T* probs, T* gx, const int64_t* t, const DimLayout& layout, const Upstream<T>& up,
                            int64_t ignore_index, double eps) {
  for_each_row(layout, [&](int64_t r, int64_t off) {
    const SmoothedTarget st{t[r], ignore_index, eps};
    if (layout.inner == 1) cross_entropy_row_backward<T, true>(probs + off, gx + off, layout.size, 1, st, up.at(r));
    else cross_entropy_row_backward<T, false>(probs + off, gx + off, layout.size, layout.inner, st, up.at(r));
  });
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction, int64_t ignore_index,
                     double label_smoothing) {
  TESSERA_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
                "cross_entropy: label_smoothing must be in [0, 1], got ", label_smoothing);
  ClassProblem plan = plan_classes(logits, target, ignore_index, "cross_entropy");
  if (logits.dtype() != DType::f32 && logits.dtype() != DType::f64)  // bf16/f16: compute in f32
    return cross_entropy(logits.to(DType::f32), target, reduction, ignore_index, label_smoothing).to(logits.dtype());

  const Tensor x = logits.detach().contiguous();
  Tensor probs = empty(x.shape(), {.dtype = x.dtype()});
  Tensor losses = empty(plan.loss_shape, {.dtype = x.dtype()});
  dispatch_floating(x.dtype(), "cross_entropy", [&]<typename T>() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
      cross_entropy_forward<T>(x.data_ptr<T>(), probs.data_ptr<T>(), losses.data_ptr<T>(), plan, ignore_index,
                               label_smoothing);
  });
  Tensor out = reduce_losses(losses, reduction, plan.count);
  autograd::record("CrossEntropyBackward", {logits}, {out}, {probs, plan.target},
                   [layout = plan.layout, count = plan.count, reduction, ignore_index,
                    label_smoothing](const Grads& g, const Grads& s, const Node&) {
    Tensor gx = empty(s[0].shape(), {.dtype = s[0].dtype()});
    dispatch_floating(gx.dtype(), "cross_entropy_backward", [&]<typename T>() {
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
        cross_entropy_backward<T>(s[0].data_ptr<T>(), gx.data_ptr<T>(), s[1].data_ptr<int64_t>(), layout,
                                  upstream<T>(g[0], reduction, count), ignore_index, label_smoothing);
    });
    return Grads{gx};
  });
  return out;
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction, int64_t ignore_index) {
  ClassProblem plan = plan_classes(log_probs, target, ignore_index, "nll_loss");
  const Tensor x = log_probs.detach().contiguous();
  Tensor losses = empty(plan.loss_shape, {.dtype = x.dtype()});
  const int64_t* t = plan.target.data_ptr<int64_t>();
  const int64_t inner = plan.layout.inner;
  dispatch_floating(x.dtype(), "nll_loss", [&]<typename T>() {
    const T* xp = x.data_ptr<T>();
    T* lp = losses.data_ptr<T>();
    for_each_row(plan.layout, [&](int64_t r, int64_t off) {
      lp[r] = t[r] == ignore_index ? T(0.0f) : T(-acc_t<T>(xp[off + t[r] * inner]));
    });
  });
  Tensor out = reduce_losses(losses, reduction, plan.count);
  autograd::record("NllLossBackward", {log_probs}, {out}, {plan.target},
                   [layout = plan.layout, count = plan.count, reduction, ignore_index](const Grads& g, const Grads& s,
                                                                                       const Node& n) {
    Tensor gx = zeros(n.input_meta[0].shape, {.dtype = g[0].dtype()});
    const int64_t* t = s[0].data_ptr<int64_t>();
    dispatch_floating(gx.dtype(), "nll_loss_backward", [&]<typename T>() {
      T* gp = gx.data_ptr<T>();
      const Upstream<T> up = upstream<T>(g[0], reduction, count);
      for_each_row(layout, [&](int64_t r, int64_t off) {
        if (t[r] != ignore_index) gp[off + t[r] * layout.inner] = T(-up.at(r));
      });
    });
    return Grads{gx};
  });
  return out;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  TESSERA_CHECK(input.defined() && target.defined() && input.is_floating_point() && target.is_floating_point(),
                "mse_loss: expected floating input and target");
  TESSERA_CHECK(input.dtype() == target.dtype(), "mse_loss: input has dtype ", dtype_name(input.dtype()),
                " but target has dtype ", dtype_name(target.dtype()));
  TESSERA_CHECK(input.shape() == target.shape(), "mse_loss: input of shape ", shape_str(input.shape()),
                " and target of shape ", shape_str(target.shape()), " differ");
  // One pass: diff = input - target (saved for backward) and the squares (or their sum, in double).
  const Tensor a = input.detach().contiguous(), b = target.detach().contiguous();
  const int64_t n = a.numel();
  Tensor diff = empty(a.shape(), {.dtype = a.dtype()});
  Tensor squares = reduction == Reduction::none ? empty(a.shape(), {.dtype = a.dtype()}) : Tensor();
  double total = 0;
  dispatch_floating(a.dtype(), "mse_loss", [&]<typename T>() {
    using A = acc_t<T>;
    const T* ap = a.data_ptr<T>();
    const T* bp = b.data_ptr<T>();
    T* dp = diff.data_ptr<T>();
    T* sp = squares.defined() ? squares.data_ptr<T>() : nullptr;
    for (int64_t i = 0; i < n; ++i) {
      const A d = A(ap[i]) - A(bp[i]);
      dp[i] = T(d);
      if (sp) sp[i] = T(d * d);
      else total += static_cast<double>(d) * static_cast<double>(d);
    }
  });
  if (reduction == Reduction::mean) total /= static_cast<double>(n);  // empty: NaN, as PyTorch
  Tensor out = squares.defined() ? squares : scalar_tensor(total, {.dtype = a.dtype()});
  autograd::record("MseLossBackward", {input, target}, {out}, {diff},
                   [reduction, n](const Grads& g, const Grads& s, const Node& node) {
    Tensor grad = empty(s[0].shape(), {.dtype = s[0].dtype()});
    dispatch_floating(grad.dtype(), "mse_loss_backward", [&]<typename T>() {
      const Upstream<T> up = upstream<T>(g[0], reduction, n);
      const T* dp = s[0].data_ptr<T>();
      T* gp = grad.data_ptr<T>();
      for (int64_t i = 0; i < n; ++i) gp[i] = T(acc_t<T>(2) * acc_t<T>(dp[i]) * up.at(i));
    });
    return Grads{node.needs_input_grad(0) ? grad : Tensor(), node.needs_input_grad(1) ? neg(grad) : Tensor()};
  });
  return out;
}

}  // namespace tessera
