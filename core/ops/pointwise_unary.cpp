// Unary ops: forward through detail::map_floating (integers compute in the default float type) or
// detail::map_numeric (abs, relu, clamp keep integer dtypes, as in PyTorch); backward is one fused pass
// (detail::backward_map) from the saved input or output. relu, sigmoid and tanh sit on the training hot path: their
// f32 loops auto-vectorise (kernels/cpu/vec_math.h), forward and backward.
#include <cmath>
#include <limits>

#include "core/autograd/node.h"
#include "core/ops/pointwise_helpers.h"
#include "kernels/cpu/vec_math.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

Tensor exp(const Tensor& x) {
  Tensor out = detail::unary_map(x, "exp", [](auto v) TESSERA_INLINE_LAMBDA { return detail::exp_value(v); });
  autograd::record("ExpBackward", {x}, {out}, {out}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{mul(g[0], s[0])};
  });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = detail::unary_map(x, "log", [](auto v) TESSERA_INLINE_LAMBDA { return std::log(v); });
  autograd::record("LogBackward", {x}, {out}, {x}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{div(g[0], s[0])};
  });
  return out;
}

Tensor relu(const Tensor& x) {
  TESSERA_CHECK(x.dtype() != DType::boolean, "relu: not defined for bool tensors");
  Tensor out = detail::map_numeric(x, "relu", [](auto v) TESSERA_INLINE_LAMBDA { return v > 0 ? v : decltype(v)(0); });
  autograd::record("ReluBackward", {x}, {out}, {out}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{detail::backward_map(g[0], s[0], "relu_backward", [](auto gv, auto y) TESSERA_INLINE_LAMBDA {
      return y > 0 ? gv : decltype(gv)(0);
    })};
  });
  return out;
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = detail::unary_map(x, "sigmoid", [](auto v) TESSERA_INLINE_LAMBDA { return detail::sigmoid_value(v); });
  autograd::record("SigmoidBackward", {x}, {out}, {out}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{detail::backward_map(g[0], s[0], "sigmoid_backward", [](auto gv, auto y) TESSERA_INLINE_LAMBDA {
      return gv * (decltype(y)(1) - y) * y;
    })};
  });
  return out;
}

Tensor tanh(const Tensor& x) {
  Tensor out = detail::unary_map(x, "tanh", [](auto v) TESSERA_INLINE_LAMBDA { return detail::tanh_value(v); });
  autograd::record("TanhBackward", {x}, {out}, {out}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{detail::backward_map(g[0], s[0], "tanh_backward", [](auto gv, auto y) TESSERA_INLINE_LAMBDA {
      return gv * (decltype(y)(1) - y * y);
    })};
  });
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = detail::unary_map(x, "sqrt", [](auto v) TESSERA_INLINE_LAMBDA { return std::sqrt(v); });
  autograd::record("SqrtBackward", {x}, {out}, {out}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{detail::backward_map(g[0], s[0], "sqrt_backward", [](auto gv, auto y) TESSERA_INLINE_LAMBDA {
      return gv / (2 * y);
    })};
  });
  return out;
}

Tensor rsqrt(const Tensor& x) {
  Tensor out = detail::unary_map(x, "rsqrt", [](auto v) TESSERA_INLINE_LAMBDA {
    return decltype(v)(1) / std::sqrt(v);
  });
  autograd::record("RsqrtBackward", {x}, {out}, {out}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{detail::backward_map(g[0], s[0], "rsqrt_backward", [](auto gv, auto y) TESSERA_INLINE_LAMBDA {
      return decltype(y)(-0.5) * gv * (y * y * y);
    })};
  });
  return out;
}

Tensor abs(const Tensor& x) {
  Tensor out = detail::map_numeric(x, "abs", [](auto v) TESSERA_INLINE_LAMBDA {
    if constexpr (std::is_unsigned_v<decltype(v)>) return v;
    else if constexpr (std::is_floating_point_v<decltype(v)>) return std::abs(v);
    else return v < 0 ? decltype(v)(-v) : v;
  });
  autograd::record("AbsBackward", {x}, {out}, {x}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{detail::backward_map(g[0], s[0], "abs_backward", [](auto gv, auto v) TESSERA_INLINE_LAMBDA {
      return gv * decltype(v)((v > 0) - (v < 0));  // sign(0) = 0, as PyTorch's sgn
    })};
  });
  return out;
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  TESSERA_CHECK(min || max, "clamp: at least one of min and max must be given (input shape ", shape_str(x.shape()),
                ")");
  const DType type = detail::scalar_result_type(x.dtype(), {min.value_or(0.0), max.value_or(0.0)});
  const Tensor in = x.to(type);
  // The bounds in T (as PyTorch casts them to the tensor's dtype), then in acc_t<T>; absent ones unbounded.
  auto bounds = [min, max]<typename T>() {
    using A = acc_t<T>;
    constexpr A lowest = std::numeric_limits<A>::has_infinity ? -std::numeric_limits<A>::infinity()
                                                              : std::numeric_limits<A>::lowest();
    constexpr A highest = std::numeric_limits<A>::has_infinity ? std::numeric_limits<A>::infinity()
                                                               : std::numeric_limits<A>::max();
    return std::pair<A, A>{min ? A(T(*min)) : lowest, max ? A(T(*max)) : highest};
  };
  Tensor out = empty(in.shape(), {.dtype = type});
  dispatch_numeric(type, "clamp", [&]<typename T>() {
    const auto [lo, hi] = bounds.template operator()<T>();
    detail::unary_kernel<T, T>(out, in, [=](T v) {
      acc_t<T> t = static_cast<acc_t<T>>(v);
      t = t < lo ? lo : t;  // NaN stays NaN; lo > hi gives hi, as std::min(std::max(v, lo), hi)
      return T(t > hi ? hi : t);
    });
  });
  autograd::record("ClampBackward", {x}, {out}, {in}, [bounds](const Grads& g, const Grads& s, const Node&) {
    Tensor grad = empty(s[0].shape(), {.dtype = s[0].dtype()});
    dispatch_floating(grad.dtype(), "clamp_backward", [&]<typename T>() {
      const auto [lo, hi] = bounds.template operator()<T>();
      detail::binary_kernel<T, T, T>(grad, g[0].to(grad.dtype()), s[0], [=](T gv, T v) {
        return acc_t<T>(v) >= lo && acc_t<T>(v) <= hi ? gv : T(0.0f);
      });
    });
    return Grads{grad};
  });
  return out;
}

}  // namespace tessera
