// Inverted dropout: y = x * mask, mask = 1/(1-p) with probability 1-p and 0 otherwise, drawn from the given
// Generator's Philox stream on x's device, element i from word offset + i (a seeded generator reproduces the mask on
// any device). The mask and the product come from one backend call (one kernel on a GPU). p = 0 and eval return x
// itself; p = 1 gives zeros. Backward multiplies by the same saved mask.
#include "core/autograd/node.h"
#include "core/backend_of.h"
#include "core/ops/elementwise.h"
#include "core/ops/nn_common.h"
#include "core/ops/nn_functional.h"
#include "core/ops/pointwise.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  TESSERA_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got ", p);
  TESSERA_CHECK(x.is_floating_point(), "dropout: expected a floating tensor, got ", dtype_name(x.dtype()));
  if (!training || p == 0.0) return x;
  const Tensor input = x.detach().contiguous();
  Tensor mask = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  kernels::RandomArgs keep{.kind = kernels::RandomKind::bernoulli, .a = 1.0 - p, .b = p == 1.0 ? 0.0 : 1.0 / (1.0 - p)};
  gen.reserve_fill(keep, static_cast<uint64_t>(mask.numel()), x.device());
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  backend_of(x.device()).dropout(input.raw_data(), mask.raw_data(), out.raw_data(), x.dtype(), x.numel(), keep);
  autograd::record("DropoutBackward", {x}, {out}, {mask}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{mul(g[0], s[0])};
  });
  return out;
}

}  // namespace tessera
