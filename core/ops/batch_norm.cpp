// batch_norm over x viewed as (N, C, S), S the product of the trailing dims. Per channel:
//   training: mean and biased variance of the batch normalise; running_var gets the unbiased variance
//             (momentum as PyTorch: r = (1 - m) r + m batch), written in place without autograd, version bumped;
//   eval:     the running statistics normalise.
// y = (x - mean) * invstd * weight + bias, done as y = x * scale + shift with per-channel scale/shift. Statistics
// and the backward reductions accumulate in double; the saved mean/invstd are f64 (C values).
// Backward (training): gx = w invstd (gy - mean(gy) - xhat mean(gy xhat)); eval: gx = gy w invstd.
#include <cmath>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/ops/factory.h"
#include "core/ops/nn_common.h"
#include "core/ops/nn_functional.h"
#include "kernels/cpu/parallel.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

struct ChannelLayout {
  int64_t n, c, s;  // x is contiguous (n, c, s)
  int64_t count() const { return n * s; }
  // Channels per parallel chunk: ~32K elements each, so small tensors stay on one thread.
  int64_t channel_grain() const { return std::max<int64_t>(1, 32768 / std::max<int64_t>(count(), 1)); }
};

// Visits channel c's values of a contiguous (n, c, s) buffer as contiguous runs of s.
template <typename F> void for_each_run(const ChannelLayout& l, int64_t c, F&& f) {
  for (int64_t i = 0; i < l.n; ++i) f((i * l.c + c) * l.s);
}

template <typename T> void channel_stats(const ChannelLayout& l, const T* x, double* mean, double* var) {
  kernels::cpu::parallel_for(l.c, l.channel_grain(), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double sum = 0;
      for_each_run(l, c, [&](int64_t at) {
        for (int64_t j = 0; j < l.s; ++j) sum += x[at + j];
      });
      const double m = sum / static_cast<double>(l.count());
      double sq = 0;
      for_each_run(l, c, [&](int64_t at) {
        for (int64_t j = 0; j < l.s; ++j) sq += (x[at + j] - m) * (x[at + j] - m);
      });
      mean[c] = m;
      var[c] = sq;  // sum of squares; the caller divides
    }
  });
}

template <typename T> void apply_affine(const ChannelLayout& l, const T* x, const double* scale, const double* shift, T* y) {
  kernels::cpu::parallel_for(l.n * l.c, std::max<int64_t>(1, 32768 / std::max<int64_t>(l.s, 1)), [&](int64_t begin,
                                                                                                    int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t c = r % l.c;
      const T a = static_cast<T>(scale[c]), b = static_cast<T>(shift[c]);
      for (int64_t j = 0; j < l.s; ++j) y[r * l.s + j] = x[r * l.s + j] * a + b;
    }
  });
}

// The per-channel values of an optional (C) parameter as doubles (`fill` when undefined).
std::vector<double> channel_values(const Tensor& t, int64_t c, double fill) {
  return t.defined() ? t.to_vector<double>() : std::vector<double>(c, fill);
}

void check_channel_tensor(const Tensor& t, int64_t c, const char* what) {
  if (t.defined())
    TESSERA_CHECK(t.dim() == 1 && t.size(0) == c, "batch_norm: ", what, " of shape ", shape_str(t.shape()),
                  " does not match ", c, " channels");
}

// Saved statistics: mean and invstd per channel (f64).
Tensor f64_vector(const std::vector<double>& v) { return tensor<double>(v, {static_cast<int64_t>(v.size())}); }

Grads batch_norm_backward(const Tensor& gy_in, const Tensor& x, const Tensor& weight, const Tensor& mean_t,
                           const Tensor& invstd_t, bool training, const Node& n) {
  const Tensor gy = gy_in.contiguous();
  const ChannelLayout l{x.size(0), x.size(1), x.numel() / std::max<int64_t>(x.size(0) * x.size(1), 1)};
  const std::vector<double> w = channel_values(weight, l.c, 1.0);
  const double* mean = mean_t.data_ptr<double>();
  const double* invstd = invstd_t.data_ptr<double>();
  std::vector<double> sum_gy(l.c), sum_gy_xhat(l.c);
  Tensor gx = n.needs_input_grad(0) ? empty(x.shape(), {.dtype = x.dtype()}) : Tensor();
  dispatch_floating(x.dtype(), "batch_norm backward", [&]<typename T>() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      const T* xp = x.data_ptr<T>();
      const T* g = gy.data_ptr<T>();
      kernels::cpu::parallel_for(l.c, l.channel_grain(), [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
          double a = 0, b = 0;
          for_each_run(l, c, [&](int64_t at) {
            for (int64_t j = 0; j < l.s; ++j) {
              a += g[at + j];
              b += g[at + j] * (xp[at + j] - mean[c]);
            }
          });
          sum_gy[c] = a;
          sum_gy_xhat[c] = b * invstd[c];
          if (!gx.defined()) continue;
          T* o = gx.data_ptr<T>();
          const double k = w[c] * invstd[c];
          const double m = static_cast<double>(l.count());
          // training: gx = k (gy - a/m - xhat b/m), xhat = (x - mean) invstd; eval: gx = k gy.
          const T gk = static_cast<T>(k);
          const T shift = training ? static_cast<T>(-k * a / m) : T(0);
          const T xk = training ? static_cast<T>(-k * sum_gy_xhat[c] / m * invstd[c]) : T(0);
          const T mc = static_cast<T>(mean[c]);
          for_each_run(l, c, [&](int64_t at) {
            for (int64_t j = 0; j < l.s; ++j) o[at + j] = gk * g[at + j] + shift + xk * (xp[at + j] - mc);
          });
        }
      });
    }
  });
  Grads grads(3);
  grads[0] = gx;
  if (n.needs_input_grad(1)) grads[1] = f64_vector(sum_gy_xhat).to(n.input_meta[1].dtype);
  if (n.needs_input_grad(2)) grads[2] = f64_vector(sum_gy).to(n.input_meta[2].dtype);
  return grads;
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  TESSERA_CHECK(input.dim() >= 2, "batch_norm: expected an input of at least 2 dims (N, C, ...), got ",
                shape_str(input.shape()));
  TESSERA_CHECK(input.is_floating_point(), "batch_norm: expected a floating input, got ", dtype_name(input.dtype()));
  const int64_t channels = input.size(1);
  check_channel_tensor(running_mean, channels, "running_mean");
  check_channel_tensor(running_var, channels, "running_var");
  check_channel_tensor(weight, channels, "weight");
  check_channel_tensor(bias, channels, "bias");
  TESSERA_CHECK(training || (running_mean.defined() && running_var.defined()),
                "batch_norm: eval mode needs running_mean and running_var");
  if (detail::computes_in_f32(input.dtype()))
    return batch_norm(input.to(DType::f32), running_mean, running_var, detail::to_if_defined(weight, DType::f32),
                      detail::to_if_defined(bias, DType::f32), training, momentum, eps)
        .to(input.dtype());

  const Tensor x = input.detach().contiguous();
  const ChannelLayout l{x.size(0), channels, x.numel() / std::max<int64_t>(x.size(0) * channels, 1)};
  TESSERA_CHECK(!training || l.count() > 1, "batch_norm: expected more than 1 value per channel when training, got ",
                "input of shape ", shape_str(input.shape()));
  std::vector<double> mean(channels), var(channels), invstd(channels);
  if (training) {
    dispatch_floating(x.dtype(), "batch_norm", [&]<typename T>() {
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
        channel_stats<T>(l, x.data_ptr<T>(), mean.data(), var.data());
    });
    const double m = static_cast<double>(l.count());
    std::vector<double> unbiased(channels);
    for (int64_t c = 0; c < channels; ++c) {
      unbiased[c] = var[c] / (m - 1);
      var[c] /= m;
    }
    if (running_mean.defined() && running_var.defined()) {
      NoGradGuard no_grad;
      running_mean.detach().mul_(1.0 - momentum).add_(f64_vector(mean).to(running_mean.dtype()), momentum);
      running_var.detach().mul_(1.0 - momentum).add_(f64_vector(unbiased).to(running_var.dtype()), momentum);
    } else {
      TESSERA_CHECK(!running_mean.defined() && !running_var.defined(),
                    "batch_norm: give both running_mean and running_var, or neither");
    }
  } else {
    mean = running_mean.to_vector<double>();
    var = running_var.to_vector<double>();
  }
  const std::vector<double> w = channel_values(weight, channels, 1.0), b = channel_values(bias, channels, 0.0);
  std::vector<double> scale(channels), shift(channels);
  for (int64_t c = 0; c < channels; ++c) {
    invstd[c] = 1.0 / std::sqrt(var[c] + eps);
    scale[c] = invstd[c] * w[c];
    shift[c] = b[c] - mean[c] * scale[c];
  }
  Tensor out = empty(x.shape(), {.dtype = x.dtype()});
  dispatch_floating(x.dtype(), "batch_norm", [&]<typename T>() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
      apply_affine<T>(l, x.data_ptr<T>(), scale.data(), shift.data(), out.data_ptr<T>());
  });
  const Tensor saved_weight = weight.defined() ? weight.detach() : Tensor();
  autograd::record("BatchNormBackward", {input, weight, bias}, {out},
                   {x, saved_weight, f64_vector(mean), f64_vector(invstd)},
                   [training](const Grads& g, const Grads& s, const Node& n) {
    return batch_norm_backward(g[0], s[0], s[1], s[2], s[3], training, n);
  });
  return out;
}

}  // namespace tessera
