#include "core/optim/sgd.h"

#include "core/optim/fused_loop.h"

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

namespace {
template <typename T>
struct SGDScalars {
  T lr, wd, momentum, keep, sign;
};

// One block of elements; scalars and pointers by value, so they stay in registers and the loop vectorises.
template <typename T, bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
void sgd_block(const SGDScalars<T> s, T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t begin,
               int64_t end) {
  for (int64_t k = begin; k < end; ++k) {
    T d = s.sign * g[k];
    if constexpr (kDecay) d += s.wd * p[k];
    if constexpr (kMomentum) {
      const T b = kFirst ? d : buf[k] * s.momentum + s.keep * d;
      buf[k] = b;
      d = kNesterov ? d + s.momentum * b : b;
    }
    p[k] -= s.lr * d;
  }
}
}  // namespace

void SGD::step() {
  const SGDOptions& o = options_;
  for_each_param_with_grad([&](size_t i, const Tensor& param, const Tensor& grad) {
    bool first = false;
    const Tensor buffer = o.momentum != 0.0 ? state_tensor(i, "momentum_buffer", &first) : Tensor();
    detail::dispatch_param(param, "SGD.step", [&]<typename T>() {
      const SGDScalars<T> s{.lr = static_cast<T>(lr_),
                            .wd = static_cast<T>(o.weight_decay),
                            .momentum = static_cast<T>(o.momentum),
                            .keep = static_cast<T>(1.0 - o.dampening),
                            .sign = o.maximize ? T(-1) : T(1)};
      T* p = param.data_ptr<T>();
      const T* g = grad.data_ptr<T>();
      T* buf = detail::data_or_null<T>(buffer);
      detail::with_flags(
          [&]<bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>() {
            detail::for_each_block(param.numel(), [&](int64_t begin, int64_t end) {
              sgd_block<T, kDecay, kMomentum, kFirst, kNesterov>(s, p, g, buf, begin, end);
            });
          },
          o.weight_decay != 0.0, buf != nullptr, first, o.nesterov);
    });
  });
}

std::vector<std::string> SGD::state_names() const { return {"momentum_buffer"}; }

std::vector<std::pair<std::string, double>> SGD::options_list() const {
  return {{"momentum", options_.momentum},
          {"dampening", options_.dampening},
          {"weight_decay", options_.weight_decay},
          {"nesterov", options_.nesterov ? 1.0 : 0.0},
          {"maximize", options_.maximize ? 1.0 : 0.0}};
}

void SGD::set_option(const std::string& name, double value) {
  SGDOptions o = options_;
  if (name == "momentum") o.momentum = value;
  else if (name == "dampening") o.dampening = value;
  else if (name == "weight_decay") o.weight_decay = value;
  else if (name == "nesterov") o.nesterov = value != 0.0;
  else if (name == "maximize") o.maximize = value != 0.0;
  else TESSERA_THROW("SGD: unknown option \"", name, "\"");
  validate(o);
  options_ = o;
}

}  // namespace tessera::optim
