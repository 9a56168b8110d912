#pragma once
// optim::SGD with PyTorch 1.13's update rule, per element:
//   g = grad (+ weight_decay * p);  negated when maximize
//   with momentum: buf = g on the first step, else momentum * buf + (1 - dampening) * g;
//                  g = nesterov ? g + momentum * buf : buf
//   p -= lr * g
#include "core/optim/optimizer.h"

namespace tessera::optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool maximize = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  void step() override;
  std::string name() const override { return "SGD"; }
  SGDOptions options() const {  // lr as lr() now
    SGDOptions o = options_;
    o.lr = lr_;
    return o;
  }

 protected:
  std::vector<std::string> state_names() const override;
  std::array<double, kernels::StepScalars::kCount> step_scalars(int64_t step) const override;
  std::vector<std::pair<std::string, double>> options_list() const override;
  void set_options(const std::vector<std::pair<std::string, double>>& values) override;

 private:
  static void validate(const SGDOptions& options);
  SGDOptions options_;
};

}  // namespace tessera::optim
