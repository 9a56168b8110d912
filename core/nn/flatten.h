#pragma once
// nn::Flatten: merges dims start_dim..end_dim (default: all but the batch dim), a view when strides allow.
#include "core/nn/module.h"

namespace tessera::nn {

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& input) override { return input.flatten(start_dim_, end_dim_); }
  int64_t start_dim() const { return start_dim_; }
  int64_t end_dim() const { return end_dim_; }
  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override {
    return "start_dim=" + std::to_string(start_dim_) + ", end_dim=" + std::to_string(end_dim_);
  }

 private:
  int64_t start_dim_;
  int64_t end_dim_;
};

}  // namespace tessera::nn
