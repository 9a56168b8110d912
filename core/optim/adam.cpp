#include "core/optim/adam.h"

#include "kernels/optimizer_rules.h"

namespace tessera::optim {

Adam::Adam(std::vector<Tensor> params, AdamOptions options) : Adam(std::move(params), options, false) {}

Adam::Adam(std::vector<Tensor> params, AdamOptions options, bool decoupled_weight_decay)
    : Optimizer(std::move(params), options.lr), options_(options), decoupled_(decoupled_weight_decay) {
  validate(options);
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions o)
    : Adam(std::move(params),
           AdamOptions{.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps, .weight_decay = o.weight_decay,
                       .amsgrad = o.amsgrad, .maximize = o.maximize},
           true) {}

void Adam::validate(const AdamOptions& o) {
  TESSERA_CHECK(o.eps >= 0.0, "Adam: invalid eps ", o.eps);
  TESSERA_CHECK(o.beta1 >= 0.0 && o.beta1 < 1.0, "Adam: invalid beta1 ", o.beta1, " (must be in [0, 1))");
  TESSERA_CHECK(o.beta2 >= 0.0 && o.beta2 < 1.0, "Adam: invalid beta2 ", o.beta2, " (must be in [0, 1))");
  TESSERA_CHECK(o.weight_decay >= 0.0, "Adam: invalid weight_decay ", o.weight_decay);
}

void Adam::step() {
  const AdamOptions& o = options_;
  const kernels::AdamHyper hyper{.lr = lr_, .beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps,
                                 .weight_decay = o.weight_decay, .decoupled_weight_decay = decoupled_,
                                 .amsgrad = o.amsgrad, .maximize = o.maximize};
  fused_step(
      [&](size_t i, int64_t t, const Tensor& param, const Tensor& grad) {
        const Tensor exp_avg = state_tensor(i, "exp_avg");
        const Tensor exp_avg_sq = state_tensor(i, "exp_avg_sq");
        const Tensor max_exp_avg_sq = o.amsgrad ? state_tensor(i, "max_exp_avg_sq") : Tensor();
        const auto [lr, step_size, bias_correction2_sqrt] = step_scalars(t);
        return kernels::OptimizerSlot{
            .param = param.raw_data(),
            .grad = grad.raw_data(),
            .state = {exp_avg.raw_data(), exp_avg_sq.raw_data(), o.amsgrad ? max_exp_avg_sq.raw_data() : nullptr},
            .numel = param.numel(),
            .step_size = step_size,
            .bias_correction2_sqrt = bias_correction2_sqrt};
      },
      [&](kernels::Backend& backend, DType dtype, const kernels::OptimizerSlot* slots, size_t count,
          kernels::StepScalars scalars) {
        kernels::AdamHyper h = hyper;
        h.scalars = scalars;
        backend.adam_step(dtype, h, slots, count);
      });
}

std::array<double, kernels::StepScalars::kCount> Adam::step_scalars(int64_t t) const {
  const kernels::AdamBiasCorrections c = kernels::adam_bias_corrections(lr_, options_.beta1, options_.beta2, t);
  return {lr_, c.step_size, c.bias_correction2_sqrt};
}

std::vector<std::string> Adam::state_names() const { return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}; }

std::vector<std::pair<std::string, double>> Adam::options_list() const {
  return {{"beta1", options_.beta1},
          {"beta2", options_.beta2},
          {"eps", options_.eps},
          {"weight_decay", options_.weight_decay},
          {"amsgrad", options_.amsgrad ? 1.0 : 0.0},
          {"maximize", options_.maximize ? 1.0 : 0.0}};
}

void Adam::set_options(const std::vector<std::pair<std::string, double>>& values) {
  AdamOptions o = options_;
  for (const auto& [name, value] : values) {
    if (name == "beta1") o.beta1 = value;
    else if (name == "beta2") o.beta2 = value;
    else if (name == "eps") o.eps = value;
    else if (name == "weight_decay") o.weight_decay = value;
    else if (name == "amsgrad") o.amsgrad = value != 0.0;
    else if (name == "maximize") o.maximize = value != 0.0;
    else TESSERA_THROW(this->name(), ": unknown option \"", name, "\"");
  }
  validate(o);
  options_ = o;
}

}  // namespace tessera::optim
