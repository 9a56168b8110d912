#pragma once
// Parameter-free elementwise layers: ReLU, GELU (exact or tanh approximation), Tanh, Sigmoid, SiLU, LeakyReLU.
#include "core/nn/module.h"

namespace tessera::nn {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "ReLU"; }
};

class GELU : public Module {
 public:
  // "none" (exact, erf) or "tanh", as PyTorch's approximate argument.
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& input) override;
  const std::string& approximate() const { return approximate_; }
  std::string type_name() const override { return "GELU"; }
  std::string extra_repr() const override { return "approximate='" + approximate_ + "'"; }

 private:
  std::string approximate_;
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Tanh"; }
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Sigmoid"; }
};

class SiLU : public Module {  // x * sigmoid(x), Keras's swish
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "SiLU"; }
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope_(negative_slope) {}
  Tensor forward(const Tensor& input) override;
  double negative_slope() const { return negative_slope_; }
  std::string type_name() const override { return "LeakyReLU"; }
  std::string extra_repr() const override;

 private:
  double negative_slope_;
};

}  // namespace tessera::nn
