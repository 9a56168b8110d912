// Element-wise regression and binary losses (torch.nn.functional's binary_cross_entropy_with_logits, l1_loss,
// huber_loss), composed from differentiable pointwise ops: autograd derives their gradients, and the forms below
// are the numerically stable ones PyTorch uses. Under autocast they run in f32, as PyTorch's autocast lists them.
#include "core/amp/autocast.h"
#include "core/check.h"
#include "core/ops.h"
#include "core/ops/nn_common.h"

namespace tessera {

namespace {

Tensor reduce(const Tensor& per_element, Reduction reduction) {
  if (reduction == Reduction::none) return per_element;
  return reduction == Reduction::sum ? per_element.sum() : per_element.mean();
}

// Runs `loss` on (input, target) after the checks, in f32 under autocast.
template <typename Loss>
Tensor elementwise_loss(const char* op, const Tensor& input, const Tensor& target, Reduction reduction, Loss&& loss) {
  if (amp::casts_to_f32({&input, &target})) {
    return elementwise_loss(op, amp::to_f32(input), amp::to_f32(target), reduction, loss);
  }
  detail::check_loss_pair(op, input, target);
  return reduce(loss(input, target), reduction);
}

}  // namespace

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, Reduction reduction) {
  // max(x, 0) - x y + log(1 + exp(-|x|)): never exp of a large positive number. max(x, 0) - x y is written
  // x (s - y), s the side of 0 that x lies on (1 above, 0 below, 1/2 at 0; from comparisons, so no gradient):
  // autograd then gives s - y, and with log(1 + exp(-|x|))'s -sign(x) sigmoid(-|x|) every x gets sigmoid(x) - y,
  // x = 0 PyTorch's 0.5 - y (relu's subgradient relu'(0) = 0 would give -y). One product with x and no |x| term:
  // (1/2 - y) x + |x|/2 is inf - inf = NaN at x = +inf for y >= 1/2 (and x/2 + |x|/2 - x y for every y), where
  // PyTorch's (1 - y) x + max(-x, 0) + ... gives inf for every y < 1.
  return elementwise_loss("binary_cross_entropy_with_logits", logits, target, reduction,
                          [](const Tensor& x, const Tensor& y) {
                            const Tensor side = (gt(x, 0.0).to(x.dtype()) - lt(x, 0.0).to(x.dtype())) * 0.5 + 0.5;
                            return x * (side - y) + log(exp(neg(abs(x))) + 1.0);
                          });
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return elementwise_loss("l1_loss", input, target, reduction, [](const Tensor& x, const Tensor& y) { return abs(x - y); });
}

Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, double delta) {
  TESSERA_CHECK(delta > 0, "huber_loss: delta must be positive, got ", delta);
  // 0.5 d^2 below delta, delta (d - delta / 2) above, as one expression: with m = min(d, delta),
  // 0.5 m^2 + delta (d - m).
  return elementwise_loss("huber_loss", input, target, reduction, [delta](const Tensor& x, const Tensor& y) {
    const Tensor d = abs(x - y);
    const Tensor m = clamp(d, std::nullopt, delta);
    return m * m * 0.5 + (d - m) * delta;
  });
}

}  // namespace tessera
