#include "core/nn/activation.h"

#include "core/nn/repr.h"
#include "core/ops/pointwise.h"

namespace tessera::nn {

Tensor ReLU::forward(const Tensor& input) { return relu(input); }

GELU::GELU(std::string approximate) : approximate_(std::move(approximate)) {
  TESSERA_CHECK(approximate_ == "none" || approximate_ == "tanh", "GELU: approximate must be \"none\" or \"tanh\", got \"",
                approximate_, "\"");
}

Tensor GELU::forward(const Tensor& input) { return gelu(input, approximate_ == "tanh"); }

Tensor Tanh::forward(const Tensor& input) { return tanh(input); }

Tensor Sigmoid::forward(const Tensor& input) { return sigmoid(input); }
Tensor SiLU::forward(const Tensor& input) { return silu(input); }

Tensor LeakyReLU::forward(const Tensor& input) { return leaky_relu(input, negative_slope_); }

std::string LeakyReLU::extra_repr() const { return "negative_slope=" + detail::repr_value(negative_slope_); }

}  // namespace tessera::nn
