// pow with a scalar or a tensor exponent. Integer bases with integer exponents stay integers (exact repeated
// squaring, wrapping on overflow like PyTorch); everything else computes in acc_t of the floating result type.
// The scalar form special-cases the exponents PyTorch special-cases (2, 3, 0.5, -0.5, -1, -2) so f32 results agree
// bit for bit. Gradients follow PyTorch: zero where the exponent is 0 (d/dx), zero where x == 0 and the exponent
// is >= 0 (d/dexponent).
#include "core/amp/autocast.h"
#include "core/autograd/node.h"
#include "core/ops/elementwise.h"
#include "core/ops/factory.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

Tensor pow(const Tensor& x, double exponent) {
  if (amp::casts_to_f32({&x})) return pow(amp::to_f32(x), exponent);  // on autocast's f32 list, as in PyTorch
  const DType type = detail::scalar_result_type(x.dtype(), {exponent});
  TESSERA_CHECK(type != DType::boolean, "pow: not defined for bool tensors");
  TESSERA_CHECK(is_floating(type) || exponent >= 0, "pow: integers to negative integer powers are not allowed (",
                dtype_name(type), " tensor of shape ", shape_str(x.shape()), ", exponent ", exponent, ")");
  const Tensor in = x.to(type);
  Tensor out = detail::map_numeric(in, detail::UnaryOp::pow_scalar, {.a = exponent});
  autograd::record("PowBackward", {in}, {out}, {in}, [exponent](const Grads& g, const Grads& s, const Node&) {
    if (exponent == 0.0) return Grads{zeros_like(s[0])};
    return Grads{detail::backward_map(g[0], s[0], detail::BinaryOp::pow_scalar_backward, {.a = exponent})};
  });
  return out;
}

Tensor pow(const Tensor& x, const Tensor& exponent) {
  if (amp::casts_to_f32({&x, &exponent})) return pow(amp::to_f32(x), amp::to_f32(exponent));
  const DType type = result_type(x, exponent);
  TESSERA_CHECK(type != DType::boolean, "pow: not defined for bool tensors");
  const Tensor base = x.to(type);
  const Tensor power = exponent.to(type);
  const Device device = detail::common_device("pow", {&x, &exponent});
  Tensor out = empty(broadcast_shapes(x.shape(), exponent.shape()), {.dtype = type, .device = device});
  detail::binary_into(detail::BinaryOp::pow, out, base, power);
  // Recorded on the converted operands: their ToCopyBackward nodes return each gradient in its input's dtype.
  autograd::record("PowBackward", {base, power}, {out}, {base, power}, [](const Grads& g, const Grads& s,
                                                                           const Node& n) {
    Grads grads(2);
    const DType type = s[0].dtype();
    for (size_t i = 0; i < 2; ++i) {
      if (!n.needs_input_grad(i)) continue;
      Tensor grad = empty(g[0].shape(), {.dtype = type, .device = g[0].device()});
      detail::ternary_into(i == 0 ? detail::TernaryOp::pow_backward_base : detail::TernaryOp::pow_backward_exponent,
                           grad, g[0].to(type), s[0], s[1]);
      grads[i] = sum_to(grad, n.input_meta[i].shape);
    }
    return grads;
  });
  return out;
}

}  // namespace tessera
