#include "core/optim/sgd.h"


namespace tessera::optim {

SGD::SGD(std::vector<Tensor> params, SGDOptions options) : Optimizer(std::move(params), options.lr), options_(options) {
  validate(options);
}

void SGD::validate(const SGDOptions& o) {
  TESSERA_CHECK(o.momentum >= 0.0, "SGD: invalid momentum ", o.momentum);
  TESSERA_CHECK(o.weight_decay >= 0.0, "SGD: invalid weight_decay ", o.weight_decay);
  TESSERA_CHECK(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0),
                "SGD: nesterov momentum requires a momentum and zero dampening (momentum ", o.momentum, ", dampening ",
                o.dampening, ")");
}

void SGD::step() {
  const SGDOptions& o = options_;
  const kernels::SgdHyper hyper{.lr = lr_, .weight_decay = o.weight_decay, .momentum = o.momentum,
                                .dampening = o.dampening, .nesterov = o.nesterov, .maximize = o.maximize};
  fused_step(
      [&](size_t i, int64_t t, const Tensor& param, const Tensor& grad) {
        bool created = false;
        const Tensor buffer = o.momentum != 0.0 ? state_tensor(i, "momentum_buffer", &created) : Tensor();
        // The buffer takes the gradient when it is new, or holds only the zeros of skipped steps (optimizer.h).
        return kernels::OptimizerSlot{.param = param.raw_data(), .grad = grad.raw_data(),
                                      .state = {buffer.defined() ? buffer.raw_data() : nullptr},
                                      .numel = param.numel(), .first_step = created || t == 1};
      },
      [&](kernels::Backend& backend, DType dtype, const kernels::OptimizerSlot* slots, size_t count,
          kernels::StepScalars scalars) {
        kernels::SgdHyper h = hyper;
        h.scalars = scalars;
        backend.sgd_step(dtype, h, slots, count);
      });
}

std::array<double, kernels::StepScalars::kCount> SGD::step_scalars(int64_t) const { return {lr_, 0.0, 0.0}; }

std::vector<std::string> SGD::state_names() const { return {"momentum_buffer"}; }

std::vector<std::pair<std::string, double>> SGD::options_list() const {
  return {{"momentum", options_.momentum},
          {"dampening", options_.dampening},
          {"weight_decay", options_.weight_decay},
          {"nesterov", options_.nesterov ? 1.0 : 0.0},
          {"maximize", options_.maximize ? 1.0 : 0.0}};
}

void SGD::set_options(const std::vector<std::pair<std::string, double>>& values) {
  SGDOptions o = options_;
  for (const auto& [name, value] : values) {
    if (name == "momentum") o.momentum = value;
    else if (name == "dampening") o.dampening = value;
    else if (name == "weight_decay") o.weight_decay = value;
    else if (name == "nesterov") o.nesterov = value != 0.0;
    else if (name == "maximize") o.maximize = value != 0.0;
    else TESSERA_THROW("SGD: unknown option \"", name, "\"");
  }
  validate(o);
  options_ = o;
}

}  // namespace tessera::optim
