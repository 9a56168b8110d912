// gelu (exact erf form and tanh approximation), silu and leaky_relu, with PyTorch's formulas term for term
// (kernels/elementwise_ops.h) so that f32 results agree to rounding. Floating inputs only (PyTorch has no integer
// kernels for these).
#include "core/autograd/node.h"
#include "core/ops/elementwise.h"

namespace tessera {

using autograd::Node;
using detail::BinaryOp;
using detail::UnaryOp;
using Grads = std::vector<Tensor>;

namespace {

// y = op(x) for a floating x, with backward grad_in = backward_op(grad, x).
Tensor floating_activation(const Tensor& x, const char* name, UnaryOp op, BinaryOp backward_op, const char* node,
                           const detail::OpScalars& scalars = {}) {
  TESSERA_CHECK(x.is_floating_point(), name, ": expected a floating tensor, got ", dtype_name(x.dtype()),
                " (shape ", shape_str(x.shape()), ")");
  Tensor out = detail::map_floating(x, op, scalars);
  autograd::record(node, {x}, {out}, {x}, [backward_op, scalars](const Grads& g, const Grads& s, const Node&) {
    return Grads{detail::backward_map(g[0], s[0], backward_op, scalars)};
  });
  return out;
}

}  // namespace

Tensor gelu(const Tensor& x, bool tanh_approximation) {
  if (tanh_approximation)
    return floating_activation(x, "gelu", UnaryOp::gelu_tanh, BinaryOp::gelu_tanh_backward, "GeluBackward");
  return floating_activation(x, "gelu", UnaryOp::gelu, BinaryOp::gelu_backward, "GeluBackward");
}

Tensor silu(const Tensor& x) {
  return floating_activation(x, "silu", UnaryOp::silu, BinaryOp::silu_backward, "SiluBackward");
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return floating_activation(x, "leaky_relu", UnaryOp::leaky_relu, BinaryOp::leaky_relu_backward,
                             "LeakyReluBackward", {.a = negative_slope});
}

}  // namespace tessera
