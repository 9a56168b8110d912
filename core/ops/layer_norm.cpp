// layer_norm over the trailing dims given by normalized_shape: x is viewed as (rows, d). Per row, mean and biased
// variance (accumulated in double) give xhat = (x - mean) * rstd; y = xhat * weight + bias (both optional, of
// normalized_shape). The front end checks shapes, computes bf16/f16 in f32 and records autograd; the loops are the
// backend's layer_norm entries (kernels/cpu/norm.cpp). mean/rstd and the parameter gradients are f64 tensors on
// the input's device.
#include "core/autograd/node.h"
#include "core/amp/autocast.h"
#include "core/backend_of.h"
#include "core/ops/elementwise.h"
#include "core/ops/factory.h"
#include "core/ops/nn_common.h"
#include "core/ops/nn_functional.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

const void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
double* f64_data_or_null(const Tensor& t) { return t.defined() ? static_cast<double*>(t.raw_data()) : nullptr; }

}  // namespace

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  if (amp::casts_to_f32({&input, &weight, &bias}))
    return layer_norm(amp::to_f32(input), normalized_shape, amp::to_f32(weight), amp::to_f32(bias), eps);
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  TESSERA_CHECK(k >= 1 && input.dim() >= k &&
                    Shape(input.shape().end() - k, input.shape().end()) == normalized_shape,
                "layer_norm: normalized_shape ", shape_str(normalized_shape), " does not match the trailing dims of ",
                "input ", shape_str(input.shape()));
  TESSERA_CHECK(input.is_floating_point(), "layer_norm: expected a floating input, got ", dtype_name(input.dtype()));
  for (const Tensor* p : {&weight, &bias})
    if (p->defined())
      TESSERA_CHECK(p->shape() == normalized_shape && p->dtype() == input.dtype(), "layer_norm: weight and bias must ",
                    "have shape ", shape_str(normalized_shape), " and dtype ", dtype_name(input.dtype()), ", got ",
                    shape_str(p->shape()), " ", dtype_name(p->dtype()));
  if (detail::computes_in_f32(input.dtype()))
    return layer_norm(input.to(DType::f32), normalized_shape, detail::to_if_defined(weight, DType::f32),
                      detail::to_if_defined(bias, DType::f32), eps)
        .to(input.dtype());
  const Tensor x = input.detach().contiguous();
  const Tensor w = weight.defined() ? weight.detach().contiguous() : Tensor();
  const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  const Device device = x.device();
  for (const Tensor* p : {&w, &b})
    if (p->defined()) detail::common_device("layer_norm", {&x, p});
  const int64_t d = shape_numel(normalized_shape), rows = d == 0 ? 0 : x.numel() / d;
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = device});
  const TensorOptions f64{.dtype = DType::f64, .device = device};
  Tensor mean = empty({rows}, f64), rstd = empty({rows}, f64);
  backend_of(device).layer_norm(x.raw_data(), data_or_null(w), data_or_null(b), out.raw_data(),
                                static_cast<double*>(mean.raw_data()), static_cast<double*>(rstd.raw_data()), x.dtype(),
                                rows, d, eps);
  autograd::record("LayerNormBackward", {input, weight, bias}, {out}, {x, w, mean, rstd},
                   [rows, d](const Grads& g, const Grads& s, const Node& n) {
    const Tensor& x = s[0];
    const Tensor gy = g[0].to(x.dtype()).contiguous();
    const Device device = detail::common_device("layer_norm backward", {&gy, &x});
    const TensorOptions f64{.dtype = DType::f64, .device = device};
    Grads grads(3);
    if (n.needs_input_grad(0)) grads[0] = empty(x.shape(), {.dtype = x.dtype(), .device = device});
    Tensor gw = n.needs_input_grad(1) ? zeros({d}, f64) : Tensor();
    Tensor gb = n.needs_input_grad(2) ? zeros({d}, f64) : Tensor();
    backend_of(device).layer_norm_backward(x.raw_data(), data_or_null(s[1]), gy.raw_data(),
                                           static_cast<const double*>(s[2].raw_data()),
                                           static_cast<const double*>(s[3].raw_data()),
                                           grads[0].defined() ? grads[0].raw_data() : nullptr, f64_data_or_null(gw),
                                           f64_data_or_null(gb), x.dtype(), rows, d);
    if (gw.defined()) grads[1] = gw.to(x.dtype()).reshape(n.input_meta[1].shape);
    if (gb.defined()) grads[2] = gb.to(x.dtype()).reshape(n.input_meta[2].shape);
    return grads;
  });
  return out;
}

}  // namespace tessera
