#pragma once
// nn::Conv2d over NCHW input. weight (out_channels, in_channels / groups, kh, kw) ~ kaiming_uniform_(a=sqrt(5)),
// bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels / groups * kh * kw, as PyTorch.
// Zero padding only.
#include "core/generator.h"
#include "core/nn/int_pair.h"
#include "core/nn/module.h"

namespace tessera::nn {

struct Conv2dOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  IntPair kernel_size{};
  IntPair stride = 1;
  IntPair padding = 0;
  IntPair dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

class Conv2d : public Module {
 public:
  explicit Conv2d(Conv2dOptions options, Generator& gen = default_generator());

  Tensor forward(const Tensor& input) override;
  // relu(forward(input)) with the ReLU in the convolution's pass: what Sequential runs for Conv2d, ReLU.
  Tensor forward_relu(const Tensor& input);
  void reset_parameters(Generator& gen = default_generator());

  const Conv2dOptions& options() const { return options_; }
  Tensor weight() const { return weight_; }
  Tensor bias() const { return bias_; }  // undefined without bias
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;

 private:
  Tensor forward_with(const Tensor& input, bool relu);

  Conv2dOptions options_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace tessera::nn
