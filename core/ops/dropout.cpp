// Inverted dropout: y = x * mask, mask = 1/(1-p) with probability 1-p and 0 otherwise, drawn from the given
// Generator in row-major order (so a seeded generator reproduces the mask). p = 0 and eval return x itself;
// p = 1 gives zeros. Backward multiplies by the same saved mask.
#include "core/autograd/node.h"
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
  Tensor mask = empty(x.shape(), {.dtype = x.dtype()});  // drawn on the host, then copied to x's device
  dispatch_floating(x.dtype(), "dropout", [&]<typename T>() {
    T* m = mask.data_ptr<T>();
    const float keep = static_cast<float>(1.0 - p);
    const T scale = p == 1.0 ? T(0) : T(static_cast<acc_t<T>>(1.0 / (1.0 - p)));
    for (int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform_f() < keep ? scale : T(0);
  });
  mask = mask.to(x.device());
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  detail::binary_into(detail::BinaryOp::mul, out, x.detach(), mask);
  autograd::record("DropoutBackward", {x}, {out}, {mask}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{mul(g[0], s[0])};
  });
  return out;
}

}  // namespace tessera
