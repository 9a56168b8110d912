// gelu (exact erf form and tanh approximation) and leaky_relu, with PyTorch's formulas term for term so that f32
// results agree to rounding. Floating inputs only (PyTorch has no integer kernels for these).
#include <cmath>

#include "core/autograd/node.h"
#include "core/ops/pointwise_helpers.h"
#include "kernels/cpu/vec_math.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

constexpr double kSqrt1_2 = 0.70710678118654752440;                   // M_SQRT1_2
constexpr double kErfPdf = 1.12837916709551257390 * kSqrt1_2 * 0.5;   // M_2_SQRTPI * M_SQRT1_2 * 0.5 = 1/sqrt(2 pi)
constexpr double kTanhBeta = 1.41421356237309504880 * 1.12837916709551257390 * 0.5;  // sqrt(2/pi)
constexpr double kTanhKappa = 0.044715;

void check_floating(const Tensor& x, const char* op) {
  TESSERA_CHECK(x.is_floating_point(), op, ": expected a floating tensor, got ", dtype_name(x.dtype()), " (shape ",
                shape_str(x.shape()), ")");
}

}  // namespace

Tensor gelu(const Tensor& x, bool tanh_approximation) {
  check_floating(x, "gelu");
  Tensor out;
  if (tanh_approximation) {
    out = detail::unary_map(x, "gelu", [](auto v) TESSERA_INLINE_LAMBDA {
      using A = decltype(v);
      const A inner = A(kTanhBeta) * (v + A(kTanhKappa) * (v * v * v));
      return A(0.5) * v * (A(1) + detail::tanh_value(inner));
    });
  } else {
    out = detail::unary_map(x, "gelu", [](auto v) TESSERA_INLINE_LAMBDA {
      using A = decltype(v);
      return v * A(0.5) * (A(1) + std::erf(v * A(kSqrt1_2)));
    });
  }
  autograd::record("GeluBackward", {x}, {out}, {x}, [tanh_approximation](const Grads& g, const Grads& s, const Node&) {
    if (tanh_approximation) {
      return Grads{detail::backward_map(g[0], s[0], "gelu_backward", [](auto gv, auto v) TESSERA_INLINE_LAMBDA {
        using A = decltype(v);
        const A x_sq = v * v;
        const A inner = A(kTanhBeta) * (v + A(kTanhKappa) * (x_sq * v));
        const A tanh_inner = detail::tanh_value(inner);
        const A left_derivative = A(0.5) * (A(1) + tanh_inner);
        const A inner_derivative = A(kTanhBeta) * (A(1) + A(3) * A(kTanhKappa) * x_sq);
        const A right_derivative = A(0.5) * v * (A(1) - tanh_inner * tanh_inner) * inner_derivative;
        return gv * (left_derivative + right_derivative);
      })};
    }
    return Grads{detail::backward_map(g[0], s[0], "gelu_backward", [](auto gv, auto v) TESSERA_INLINE_LAMBDA {
      using A = decltype(v);
      const A cdf = A(0.5) * (A(1) + std::erf(v * A(kSqrt1_2)));
      const A pdf = A(kErfPdf) * std::exp(v * v * A(-0.5));
      return gv * (cdf + v * pdf);
    })};
  });
  return out;
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  check_floating(x, "leaky_relu");
  Tensor out = detail::unary_map(x, "leaky_relu", [negative_slope](auto v) TESSERA_INLINE_LAMBDA {
    using A = decltype(v);
    const A scaled = v * A(negative_slope);
    if constexpr (std::is_same_v<A, float>) return detail::select_f32(v > 0, v, scaled);  // vectorises
    else return v > 0 ? v : scaled;
  });
  autograd::record("LeakyReluBackward", {x}, {out}, {x}, [negative_slope](const Grads& g, const Grads& s, const Node&) {
    auto grad_fn = [negative_slope](auto gv, auto v) TESSERA_INLINE_LAMBDA {
      using A = decltype(v);
      const A scaled = gv * A(negative_slope);
      if constexpr (std::is_same_v<A, float>) return detail::select_f32(v > 0, gv, scaled);
      else return v > 0 ? gv : scaled;
    };
    return Grads{detail::backward_map(g[0], s[0], "leaky_relu_backward", grad_fn)};
  });
  return out;
}

}  // namespace tessera
