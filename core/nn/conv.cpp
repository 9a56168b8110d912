#include "core/nn/conv.h"

#include <cmath>

#include "core/nn/init.h"
#include "core/nn/repr.h"
#include "core/ops/factory.h"
#include "core/ops/nn_functional.h"

namespace tessera::nn {

Conv2d::Conv2d(Conv2dOptions options, Generator& gen) : options_(options) {
  const Conv2dOptions& o = options;
  TESSERA_CHECK(o.in_channels > 0 && o.out_channels > 0, "Conv2d: in_channels (", o.in_channels,
                ") and out_channels (", o.out_channels, ") must be positive");
  TESSERA_CHECK(o.kernel_size.h > 0 && o.kernel_size.w > 0, "Conv2d: kernel_size ", o.kernel_size.str(),
                " must be positive");
  TESSERA_CHECK(o.stride.h > 0 && o.stride.w > 0 && o.dilation.h > 0 && o.dilation.w > 0 && o.padding.h >= 0 &&
                    o.padding.w >= 0,
                "Conv2d: stride ", o.stride.str(), " and dilation ", o.dilation.str(), " must be positive, padding ",
                o.padding.str(), " non-negative");
  TESSERA_CHECK(o.groups > 0 && o.in_channels % o.groups == 0 && o.out_channels % o.groups == 0, "Conv2d: groups (",
                o.groups, ") must divide in_channels (", o.in_channels, ") and out_channels (", o.out_channels, ")");
  weight_ = register_parameter("weight", empty({o.out_channels, o.in_channels / o.groups, o.kernel_size.h,
                                                o.kernel_size.w}));
  if (o.bias) bias_ = register_parameter("bias", empty({o.out_channels}));
  reset_parameters(gen);
}

void Conv2d::reset_parameters(Generator& gen) {
  init::kaiming_uniform_(weight_, std::sqrt(5.0), init::FanMode::fan_in, init::Nonlinearity::leaky_relu, gen);
  if (bias_.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(init::calculate_fan_in_and_fan_out(weight_).first));
    init::uniform_(bias_, -bound, bound, gen);
  }
}

Tensor Conv2d::forward(const Tensor& input) { return forward_with(input, false); }

Tensor Conv2d::forward_relu(const Tensor& input) { return forward_with(input, true); }

Tensor Conv2d::forward_with(const Tensor& input, bool relu) {
  // (N, C, H, W), or one unbatched image (C, H, W) as PyTorch's Conv2d takes (conv2d adds and drops the batch dim).
  TESSERA_CHECK((input.dim() == 4 || input.dim() == 3) && input.size(-3) == options_.in_channels, str(),
                ": expected input (N, ", options_.in_channels, ", H, W) or (", options_.in_channels,
                ", H, W), got shape ", shape_str(input.shape()));
  const tessera::Conv2dOptions options{.stride = options_.stride.array(), .padding = options_.padding.array(),
                                       .dilation = options_.dilation.array(), .groups = options_.groups};
  return relu ? conv2d_relu(input, weight_, bias_, options) : conv2d(input, weight_, bias_, options);
}

std::string Conv2d::extra_repr() const {
  using detail::repr_value;
  const Conv2dOptions& o = options_;
  std::string out = repr_value(o.in_channels) + ", " + repr_value(o.out_channels) +
                    ", kernel_size=" + o.kernel_size.str() + ", stride=" + o.stride.str();
  if (o.padding != IntPair(0)) out += ", padding=" + o.padding.str();
  if (o.dilation != IntPair(1)) out += ", dilation=" + o.dilation.str();
  if (o.groups != 1) out += ", groups=" + repr_value(o.groups);
  if (!o.bias) out += ", bias=false";
  return out;
}

}  // namespace tessera::nn
