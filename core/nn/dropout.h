#pragma once
// nn::Dropout: in training, zeroes each element with probability p and scales the rest by 1 / (1 - p), drawing
// from `gen` (the default generator unless given; it must outlive the layer); identity in eval.
#include "core/generator.h"
#include "core/nn/module.h"

namespace tessera::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator& gen = default_generator());
  Tensor forward(const Tensor& input) override;
  double p() const { return p_; }
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;

 private:
  double p_;
  Generator* gen_;
};

}  // namespace tessera::nn
