// layer_norm over the trailing dims given by normalized_shape: x is viewed as (rows, d). Per row, mean and biased
// variance (accumulated in double) give xhat = (x - mean) * rstd; y = xhat * weight + bias (both optional, of
// normalized_shape). Backward, with gxhat = gy * weight:
//   gx = rstd (gxhat - mean(gxhat) - xhat mean(gxhat xhat)),  gweight = sum_rows gy xhat,  gbias = sum_rows gy.
// Rows run in parallel; weight/bias gradients are summed per chunk, then merged.
#include <cmath>
#include <mutex>

#include "core/autograd/node.h"
#include "core/ops/factory.h"
#include "core/ops/nn_common.h"
#include "core/ops/nn_functional.h"
#include "kernels/cpu/parallel.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

int64_t row_grain(int64_t d) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(d, 1)); }

template <typename T>
void layer_norm_forward(int64_t rows, int64_t d, const T* x, const T* w, const T* b, double eps, T* y, double* mean,
                        double* rstd) {
  kernels::cpu::parallel_for(rows, row_grain(d), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * d;
      double sum = 0;
      for (int64_t j = 0; j < d; ++j) sum += xr[j];
      const double m = sum / static_cast<double>(d);
      double sq = 0;
      for (int64_t j = 0; j < d; ++j) sq += (xr[j] - m) * (xr[j] - m);
      const double rs = 1.0 / std::sqrt(sq / static_cast<double>(d) + eps);
      mean[r] = m;
      rstd[r] = rs;
      const T tm = static_cast<T>(m), ts = static_cast<T>(rs);
      T* yr = y + r * d;
      for (int64_t j = 0; j < d; ++j) {
        const T xhat = (xr[j] - tm) * ts;
        yr[j] = (w ? xhat * w[j] : xhat) + (b ? b[j] : T(0));
      }
    }
  });
}

template <typename T>
void layer_norm_backward(int64_t rows, int64_t d, const T* x, const T* w, const T* gy, const double* mean,
                         const double* rstd, T* gx, double* gw, double* gb) {
  std::mutex merge;
  kernels::cpu::parallel_for(rows, row_grain(d), [&](int64_t begin, int64_t end) {
    std::vector<double> part_w(gw ? d : 0, 0.0), part_b(gb ? d : 0, 0.0);
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * d;
      const T* gr = gy + r * d;
      const T tm = static_cast<T>(mean[r]), ts = static_cast<T>(rstd[r]);
      if (gw || gb)
        for (int64_t j = 0; j < d; ++j) {
          if (gw) part_w[j] += static_cast<double>(gr[j]) * ((xr[j] - tm) * ts);
          if (gb) part_b[j] += gr[j];
        }
      if (!gx) continue;
      double a = 0, c = 0;
      for (int64_t j = 0; j < d; ++j) {
        const double g = w ? static_cast<double>(gr[j]) * w[j] : gr[j];
        a += g;
        c += g * ((xr[j] - mean[r]) * rstd[r]);
      }
      const T ta = static_cast<T>(a / static_cast<double>(d)), tc = static_cast<T>(c / static_cast<double>(d));
      T* o = gx + r * d;
      for (int64_t j = 0; j < d; ++j) {
        const T g = w ? gr[j] * w[j] : gr[j];
        o[j] = ts * (g - ta - (xr[j] - tm) * ts * tc);
      }
    }
    std::lock_guard<std::mutex> lock(merge);
    for (int64_t j = 0; j < static_cast<int64_t>(part_w.size()); ++j) gw[j] += part_w[j];
    for (int64_t j = 0; j < static_cast<int64_t>(part_b.size()); ++j) gb[j] += part_b[j];
  });
}

template <typename T> const T* data_or_null(const Tensor& t) { return t.defined() ? t.data_ptr<T>() : nullptr; }

}  // namespace

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  TESSERA_CHECK(k >= 1 && input.dim() >= k &&
                    Shape(input.shape().end() - k, input.shape().end()) == normalized_shape,
                "layer_norm: normalized_shape ", shape_str(normalized_shape), " does not match the trailing dims of ",
                "input ", shape_str(input.shape()));
  TESSERA_CHECK(input.is_floating_point(), "layer_norm: expected a floating input, got ", dtype_name(input.dtype()));
  for (const Tensor* p : {&weight, &bias})
    if (p->defined())
      TESSERA_CHECK(p->shape() == normalized_shape && p->dtype() == input.dtype(), "layer_norm: weight and bias must ",
                    "have shape ", shape_str(normalized_shape), " and dtype ", dtype_name(input.dtype()), ", got ",
                    shape_str(p->shape()), " ", dtype_name(p->dtype()));
  if (detail::computes_in_f32(input.dtype()))
    return layer_norm(input.to(DType::f32), normalized_shape, detail::to_if_defined(weight, DType::f32),
                      detail::to_if_defined(bias, DType::f32), eps)
        .to(input.dtype());
  const Tensor x = input.detach().contiguous();
  const Tensor w = weight.defined() ? weight.detach().contiguous() : Tensor();
  const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  const int64_t d = shape_numel(normalized_shape), rows = d == 0 ? 0 : x.numel() / d;
  Tensor out = empty(x.shape(), {.dtype = x.dtype()});
  Tensor mean = empty({rows}, {.dtype = DType::f64}), rstd = empty({rows}, {.dtype = DType::f64});
  dispatch_floating(x.dtype(), "layer_norm", [&]<typename T>() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
      layer_norm_forward<T>(rows, d, x.data_ptr<T>(), data_or_null<T>(w), data_or_null<T>(b), eps, out.data_ptr<T>(),
                            mean.data_ptr<double>(), rstd.data_ptr<double>());
  });
  autograd::record("LayerNormBackward", {input, weight, bias}, {out}, {x, w, mean, rstd},
                   [rows, d](const Grads& g, const Grads& s, const Node& n) {
    const Tensor gy = g[0].contiguous();
    const Tensor& x = s[0];
    Grads grads(3);
    if (n.needs_input_grad(0)) grads[0] = empty(x.shape(), {.dtype = x.dtype()});
    Tensor gw = n.needs_input_grad(1) ? zeros({d}, {.dtype = DType::f64}) : Tensor();
    Tensor gb = n.needs_input_grad(2) ? zeros({d}, {.dtype = DType::f64}) : Tensor();
    dispatch_floating(x.dtype(), "layer_norm backward", [&]<typename T>() {
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
        layer_norm_backward<T>(rows, d, x.data_ptr<T>(), data_or_null<T>(s[1]), gy.data_ptr<T>(),
                               s[2].data_ptr<double>(), s[3].data_ptr<double>(),
                               grads[0].defined() ? grads[0].data_ptr<T>() : nullptr, gw.defined() ? gw.data_ptr<double>() : nullptr,
                               gb.defined() ? gb.data_ptr<double>() : nullptr);
    });
    if (gw.defined()) grads[1] = gw.to(x.dtype()).reshape(n.input_meta[1].shape);
    if (gb.defined()) grads[2] = gb.to(x.dtype()).reshape(n.input_meta[2].shape);
    return grads;
  });
  return out;
}

}  // namespace tessera
