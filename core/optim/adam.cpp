#include "core/optim/adam.h"

#include <algorithm>
#include <cmath>

#include "core/optim/fused_loop.h"

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

namespace {
template <typename T>
struct AdamScalars {
  T beta1, beta2, one_minus_beta1, one_minus_beta2, step_size, bc2_sqrt, eps, sign, wd, decay;
};
template <typename T>
struct AdamBuffers {
  T* p;
  const T* g;
  T* m;
  T* v;
  T* v_max;  // amsgrad only
};

// One block of elements: the moments, then the parameters. `s` and `b` are by value so the compiler keeps them in
// registers (a store to m[k] cannot change them) and vectorises both loops.
template <typename T, bool kCoupled, bool kDecoupled, bool kAmsgrad>
void adam_block(const AdamScalars<T> s, const AdamBuffers<T> b, int64_t begin, int64_t end) {
  T* __restrict p = b.p;
  const T* __restrict g = b.g;
  T* __restrict m = b.m;
  T* __restrict v = b.v;
  T* __restrict v_max = b.v_max;
  for (int64_t k = begin; k < end; ++k) {
    T gk = s.sign * g[k];
    if constexpr (kCoupled) gk += s.wd * p[k];
    m[k] = m[k] * s.beta1 + s.one_minus_beta1 * gk;
    const T vk = v[k] * s.beta2 + s.one_minus_beta2 * gk * gk;
    v[k] = vk;
    if constexpr (kAmsgrad) v_max[k] = std::max(v_max[k], vk);
  }
  T root[detail::kStepBlock];
  detail::sqrt_into(root, (kAmsgrad ? v_max : v) + begin, end - begin);
  for (int64_t k = begin; k < end; ++k) {
    T pk = p[k];
    if constexpr (kDecoupled) pk *= s.decay;
    const T denom = root[k - begin] / s.bc2_sqrt + s.eps;
    p[k] = pk - s.step_size * (m[k] / denom);
  }
}
}  // namespace

void Adam::step() {
  const AdamOptions& o = options_;
  for_each_param_with_grad([&](size_t i, const Tensor& param, const Tensor& grad) {
    const Tensor exp_avg = state_tensor(i, "exp_avg");
    const Tensor exp_avg_sq = state_tensor(i, "exp_avg_sq");
    const Tensor max_exp_avg_sq = o.amsgrad ? state_tensor(i, "max_exp_avg_sq") : Tensor();
    const double t = static_cast<double>(state(i).step);
    const double bias_correction1 = 1.0 - std::pow(o.beta1, t);
    const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(o.beta2, t));
    detail::dispatch_param(param, "Adam.step", [&]<typename T>() {
      const AdamScalars<T> s{.beta1 = static_cast<T>(o.beta1),
                             .beta2 = static_cast<T>(o.beta2),
                             .one_minus_beta1 = static_cast<T>(1.0 - o.beta1),
                             .one_minus_beta2 = static_cast<T>(1.0 - o.beta2),
                             .step_size = static_cast<T>(lr_ / bias_correction1),
                             .bc2_sqrt = static_cast<T>(bias_correction2_sqrt),
                             .eps = static_cast<T>(o.eps),
                             .sign = o.maximize ? T(-1) : T(1),
                             .wd = static_cast<T>(o.weight_decay),
                             .decay = static_cast<T>(1.0 - lr_ * o.weight_decay)};
      const AdamBuffers<T> b{.p = param.data_ptr<T>(),
                             .g = grad.data_ptr<T>(),
                             .m = exp_avg.data_ptr<T>(),
                             .v = exp_avg_sq.data_ptr<T>(),
                             .v_max = detail::data_or_null<T>(max_exp_avg_sq)};
      const bool coupled_wd = !decoupled_ && o.weight_decay != 0.0;
      const bool decoupled_wd = decoupled_ && o.weight_decay != 0.0;
      detail::with_flags(
          [&]<bool kCoupled, bool kDecoupled, bool kAmsgrad>() {
            detail::for_each_block(param.numel(), [&](int64_t begin, int64_t end) {
              adam_block<T, kCoupled, kDecoupled, kAmsgrad>(s, b, begin, end);
            });
          },
          coupled_wd, decoupled_wd, o.amsgrad);
    });
  });
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

void Adam::set_option(const std::string& name, double value) {
  AdamOptions o = options_;
  if (name == "beta1") o.beta1 = value;
  else if (name == "beta2") o.beta2 = value;
  else if (name == "eps") o.eps = value;
  else if (name == "weight_decay") o.weight_decay = value;
  else if (name == "amsgrad") o.amsgrad = value != 0.0;
  else if (name == "maximize") o.maximize = value != 0.0;
  else TESSERA_THROW(this->name(), ": unknown option \"", name, "\"");
  validate(o);
  options_ = o;
}

}  // namespace tessera::optim
