#pragma once
// 2-D pooling layers over NCHW input (no parameters): MaxPool2d, AvgPool2d, AdaptiveAvgPool2d.
#include "core/nn/int_pair.h"
#include "core/nn/module.h"

namespace tessera::nn {

struct MaxPool2dOptions {
  IntPair kernel_size{};
  IntPair stride = 0;  // 0: same as kernel_size (PyTorch's default)
  IntPair padding = 0;
  bool ceil_mode = false;
};

struct AvgPool2dOptions {
  IntPair kernel_size{};
  IntPair stride = 0;  // 0: same as kernel_size
  IntPair padding = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(MaxPool2dOptions options);
  explicit MaxPool2d(IntPair kernel_size) : MaxPool2d(MaxPool2dOptions{.kernel_size = kernel_size}) {}
  Tensor forward(const Tensor& input) override;
  const MaxPool2dOptions& options() const { return options_; }
  std::string type_name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override;

 private:
  MaxPool2dOptions options_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(AvgPool2dOptions options);
  explicit AvgPool2d(IntPair kernel_size) : AvgPool2d(AvgPool2dOptions{.kernel_size = kernel_size}) {}
  Tensor forward(const Tensor& input) override;
  const AvgPool2dOptions& options() const { return options_; }
  std::string type_name() const override { return "AvgPool2d"; }
  std::string extra_repr() const override;

 private:
  AvgPool2dOptions options_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(IntPair output_size);
  Tensor forward(const Tensor& input) override;
  IntPair output_size() const { return output_size_; }
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::string extra_repr() const override { return "output_size=" + output_size_.str(); }

 private:
  IntPair output_size_;
};

}  // namespace tessera::nn
