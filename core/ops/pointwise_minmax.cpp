// maximum and minimum, elementwise with broadcasting and type promotion (bool: logical or / and, as PyTorch's). A NaN operand gives NaN, as in
// PyTorch (kernels/elementwise_ops.h, Extreme): fmax-style rules would drop a NaN and let it hide.
// Gradients are PyTorch 1.13's: each input gets the gradient where it is selected, half of it on ties, and all of it
// where the comparison is false both ways (a NaN on either side), so a NaN never stops a gradient.
#include "core/autograd/node.h"
#include "core/ops/elementwise.h"
#include "core/ops/factory.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

// The gradient of input `side` (0: a, 1: b): g, halved where a == b, zero where that input lost.
template <bool kMax>
Tensor extreme_grad(const Tensor& g, const Tensor& a, const Tensor& b, int side, const Shape& shape) {
  const Tensor shared = where(eq(a, b), mul(g, 0.5), g);
  const bool lost_where_less = kMax == (side == 0);  // maximum: a lost where a < b, b where a > b; minimum: reversed
  const Tensor lost = lost_where_less ? lt(a, b) : gt(a, b);
  return sum_to(masked_fill(shared, lost, 0.0), shape);
}

template <bool kMax>
Tensor extreme(const Tensor& a, const Tensor& b) {
  const detail::BinaryOp op = kMax ? detail::BinaryOp::maximum : detail::BinaryOp::minimum;
  const char* name = kernels::op_name(op);
  const DType type = result_type(a, b);
  // Computed and recorded on the converted operands: their ToCopyBackward nodes restore each input's dtype.
  const Tensor x = a.to(type);
  const Tensor y = b.to(type);
  const Device device = detail::common_device(name, {&a, &b});
  Tensor out = empty(broadcast_shapes(a.shape(), b.shape()), {.dtype = type, .device = device});
  detail::binary_into(op, out, x, y);
  autograd::record(kMax ? "MaximumBackward" : "MinimumBackward", {x, y}, {out}, {x, y},
                   [](const Grads& g, const Grads& s, const Node& n) {
                     Grads grads(2);
                     for (int side : {0, 1})
                       if (n.needs_input_grad(side))
                         grads[side] = extreme_grad<kMax>(g[0], s[0], s[1], side, n.input_meta[side].shape);
                     return grads;
                   });
  return out;
}

}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extreme<true>(a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extreme<false>(a, b); }

}  // namespace tessera
