// conv2d front end: shape checks, dtype routing (every backend takes f32 and f64; bf16/f16 run natively where the
// backend takes them, a GPU's, and in f32 elsewhere: Backend::conv_pool_takes), and the autograd node; the math is
// one backend call each way (kernels/backend.h, "convolution"). The backend wants contiguous NCHW buffers on one
// device; inputs are made contiguous once and saved that way, so backward never copies them again.
#include "core/autograd/node.h"
#include "core/amp/autocast.h"
#include "core/backend_of.h"
#include "core/ops/elementwise.h"
#include "core/ops/nn_common.h"
#include "core/ops/nn_functional.h"
#include "kernels/conv_pool_args.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

kernels::Conv2dGeometry conv_geometry(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o) {
  TESSERA_CHECK(w.dim() == 4, "conv2d: weight must be 4-D (out_channels, in_channels/groups, kh, kw), got ",
                shape_str(w.shape()));
  TESSERA_CHECK(o.groups >= 1, "conv2d: groups must be positive, got ", o.groups);
  for (int i = 0; i < 2; ++i) {
    TESSERA_CHECK(o.stride[i] >= 1 && o.dilation[i] >= 1 && o.padding[i] >= 0, "conv2d: stride and dilation must ",
                  "be positive and padding non-negative, got stride ", o.stride[i], ", dilation ", o.dilation[i],
                  ", padding ", o.padding[i]);
  }
  kernels::Conv2dGeometry g{.batch = x.size(0), .in_channels = x.size(1), .in_h = x.size(2), .in_w = x.size(3),
                       .out_channels = w.size(0), .kernel_h = w.size(2), .kernel_w = w.size(3),
                       .stride_h = o.stride[0], .stride_w = o.stride[1], .pad_h = o.padding[0],
                       .pad_w = o.padding[1], .dilation_h = o.dilation[0], .dilation_w = o.dilation[1],
                       .groups = o.groups};
  TESSERA_CHECK(g.in_channels == w.size(1) * o.groups && g.out_channels % o.groups == 0, "conv2d: input ",
                shape_str(x.shape()), " and weight ", shape_str(w.shape()), " do not match with groups=", o.groups,
                " (expected input channels = weight.size(1) * groups and out_channels divisible by groups)");
  if (b.defined())
    TESSERA_CHECK(b.dim() == 1 && b.size(0) == g.out_channels, "conv2d: bias of shape ", shape_str(b.shape()),
                  " does not match ", g.out_channels, " output channels");
  g.compute_output_size();
  // Checked before the division: C++ truncates toward zero, so a kernel overhanging the padded input by less than
  // the stride gave out_h = 1 (a window partly outside the input) instead of an error, as PyTorch's.
  const bool fits = g.in_h + 2 * g.pad_h >= g.dilation_h * (g.kernel_h - 1) + 1 &&
                    g.in_w + 2 * g.pad_w >= g.dilation_w * (g.kernel_w - 1) + 1;
  TESSERA_CHECK(fits && g.out_h > 0 && g.out_w > 0, "conv2d: input ", shape_str(x.shape()), " (with padding) is smaller ",
                "than the dilated kernel of weight ", shape_str(w.shape()));
  return g;
}

}  // namespace

namespace {

// conv2d, and with `relu` conv2d_relu: the ReLU applied by the backend's convolution (in a GPU's bias kernel).
Tensor conv2d_with(const Tensor& input, const Tensor& weight, const Tensor& bias, Conv2dOptions options, bool relu) {
  const char* op = relu ? "conv2d_relu" : "conv2d";
  if (detail::is_unbatched_image(input))
    return conv2d_with(input.unsqueeze(0), weight, bias, options, relu).squeeze(0);
  TESSERA_CHECK(input.dim() == 4, op, ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got ",
                shape_str(input.shape()));
  if (amp::casts_to_lower({&input, &weight, &bias})) {
    return conv2d_with(amp::lower_precision(input), amp::lower_precision(weight), amp::lower_precision(bias), options,
                       relu);
  }
  TESSERA_CHECK(input.is_floating_point() && input.dtype() == weight.dtype() &&
                    (!bias.defined() || bias.dtype() == input.dtype()),
                op, ": input, weight and bias must share one floating dtype, got ", dtype_name(input.dtype()), " and ",
                dtype_name(weight.dtype()));
  // bf16/f16: natively on a GPU (cuDNN on tensor cores, f32 accumulation); through f32 elsewhere, the ReLU after
  // rounding back (so its gradient's mask is the rounded output's, as relu(conv2d(...)) has it).
  if (!backend_of(input.device()).conv_pool_takes(input.dtype())) {
    const amp::AutocastGuard f32_inside(DType::bf16, /*enabled=*/false);  // autocast would lower these f32 inputs again
    const Tensor y = conv2d_with(input.to(DType::f32), weight.to(DType::f32), detail::to_if_defined(bias, DType::f32),
                                 options, false)
                         .to(input.dtype());
    return relu ? tessera::relu(y) : y;
  }
  const kernels::Conv2dGeometry g = conv_geometry(input, weight, bias, options);
  const Tensor x = input.detach().contiguous(), w = weight.detach().contiguous();
  const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  const Device device = b.defined() ? detail::common_device(op, {&x, &w, &b}) : detail::common_device(op, {&x, &w});
  Tensor out = empty({g.batch, g.out_channels, g.out_h, g.out_w}, {.dtype = input.dtype(), .device = device});
  backend_of(device).conv2d_forward(x.dtype(), g, x.raw_data(), w.raw_data(), b.defined() ? b.raw_data() : nullptr,
                                    out.raw_data(), relu);
  autograd::record("Conv2dBackward", {input, weight, bias}, {out}, {x, w},
                   [g](const Grads& grads, const Grads& s, const Node& n) {
    const Tensor& x = s[0];
    const Tensor& w = s[1];
    const Tensor gy = grads[0].contiguous();
    const Device device = detail::common_device("conv2d backward", {&x, &gy});
    const TensorOptions options{.dtype = x.dtype(), .device = device};
    Grads result(3);
    if (n.needs_input_grad(0)) result[0] = empty(x.shape(), options);
    if (n.needs_input_grad(1) || n.needs_input_grad(2)) {
      result[1] = empty(w.shape(), options);
      if (n.needs_input_grad(2)) result[2] = empty({g.out_channels}, options);
    }
    auto ptr = [](const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; };
    backend_of(device).conv2d_backward(x.dtype(), g, x.raw_data(), gy.raw_data(), w.raw_data(), ptr(result[0]),
                                       ptr(result[1]), ptr(result[2]));
    if (!n.needs_input_grad(1)) result[1] = Tensor();
    return result;
  });
  return relu ? detail::clamped_as_relu_output(out) : out;
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Conv2dOptions options) {
  return conv2d_with(input, weight, bias, options, false);
}

Tensor conv2d_relu(const Tensor& input, const Tensor& weight, const Tensor& bias, Conv2dOptions options) {
  return conv2d_with(input, weight, bias, options, true);
}

}  // namespace tessera
