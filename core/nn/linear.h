#pragma once
// nn::Linear: y = x W^T + b over the last dim of x. weight (out_features, in_features) ~ kaiming_uniform_(a=sqrt(5))
// = U(-1/sqrt(in), 1/sqrt(in)); bias ~ U(-1/sqrt(in), 1/sqrt(in)), as PyTorch.
#include "core/generator.h"
#include "core/nn/module.h"

namespace tessera::nn {

struct LinearOptions {
  int64_t in_features = 0;
  int64_t out_features = 0;
  bool bias = true;
};

class Linear : public Module {
 public:
  explicit Linear(LinearOptions options, Generator& gen = default_generator());
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator& gen = default_generator())
      : Linear(LinearOptions{.in_features = in_features, .out_features = out_features, .bias = bias}, gen) {}

  Tensor forward(const Tensor& input) override;
  // relu(forward(input)) in one GEMM (bias and ReLU in its epilogue): what Sequential runs for Linear, ReLU.
  Tensor forward_relu(const Tensor& input);
  void reset_parameters(Generator& gen = default_generator());

  const LinearOptions& options() const { return options_; }
  Tensor weight() const { return weight_; }
  Tensor bias() const { return bias_; }  // undefined without bias
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;

 private:
  void check_input(const Tensor& input) const;  // the error names this layer, not the functional op
  LinearOptions options_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace tessera::nn
