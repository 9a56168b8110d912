#pragma once
// optim::Adam and optim::AdamW with PyTorch 1.13's update rules, per element at step t (counted per parameter):
//   Adam:  g = grad + weight_decay * p          AdamW: p *= 1 - lr * weight_decay;  g = grad
//   m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g * g
//   amsgrad: v_max = max(v_max, v), used in place of v below
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Both share one implementation; AdamW differs only in the decoupled weight decay and its default (0.01).
#include "core/optim/optimizer.h"

namespace tessera::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
  bool maximize = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options);
  void step() override;
  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  AdamOptions options() const {  // lr as lr() now
    AdamOptions o = options_;
    o.lr = lr_;
    return o;
  }

 protected:
  Adam(std::vector<Tensor> params, AdamOptions options, bool decoupled_weight_decay);
  std::vector<std::string> state_names() const override;
  std::array<double, kernels::StepScalars::kCount> step_scalars(int64_t step) const override;
  std::vector<std::pair<std::string, double>> options_list() const override;
  void set_options(const std::vector<std::pair<std::string, double>>& values) override;

 private:
  static void validate(const AdamOptions& options);
  AdamOptions options_;
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options);
};

}  // namespace tessera::optim
