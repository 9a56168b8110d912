#include "core/nn/linear.h"

#include <cmath>

#include "core/nn/init.h"
#include "core/nn/repr.h"
#include "core/ops/factory.h"
#include "core/ops/linalg.h"

namespace tessera::nn {

Linear::Linear(LinearOptions options, Generator& gen) : options_(options) {
  TESSERA_CHECK(options.in_features > 0 && options.out_features > 0, "Linear: in_features (", options.in_features,
                ") and out_features (", options.out_features, ") must be positive");
  weight_ = register_parameter("weight", empty({options.out_features, options.in_features}));
  if (options.bias) bias_ = register_parameter("bias", empty({options.out_features}));
  reset_parameters(gen);
}

void Linear::reset_parameters(Generator& gen) {
  init::kaiming_uniform_(weight_, std::sqrt(5.0), init::FanMode::fan_in, init::Nonlinearity::leaky_relu, gen);
  if (bias_.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(options_.in_features));
    init::uniform_(bias_, -bound, bound, gen);
  }
}

void Linear::check_input(const Tensor& input) const {
  TESSERA_CHECK(input.dim() >= 1 && input.size(-1) == options_.in_features, str(), ": input of shape ",
                shape_str(input.shape()), " must have last dim ", options_.in_features);
}

Tensor Linear::forward(const Tensor& input) {
  check_input(input);
  return linear(input, weight_, bias_);
}

Tensor Linear::forward_relu(const Tensor& input) {
  check_input(input);
  return linear_relu(input, weight_, bias_);
}

std::string Linear::extra_repr() const {
  using detail::repr_value;
  return "in_features=" + repr_value(options_.in_features) + ", out_features=" + repr_value(options_.out_features) +
         ", bias=" + repr_value(options_.bias);
}

}  // namespace tessera::nn
