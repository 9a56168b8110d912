// Unary floating ops: forward through detail::map_floating, backward from the saved input or output.
#include <cmath>

#include "core/autograd/node.h"
#include "core/ops/elementwise.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

Tensor exp(const Tensor& x) {
  Tensor out = detail::map_floating(x, "exp", [](auto v) { return std::exp(v); });
  autograd::record("ExpBackward", {x}, {out}, {out}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{mul(g[0], s[0])};
  });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = detail::map_floating(x, "log", [](auto v) { return std::log(v); });
  autograd::record("LogBackward", {x}, {out}, {x}, [](const Grads& g, const Grads& s, const Node&) {
    return Grads{div(g[0], s[0])};
  });
  return out;
}

Tensor relu(const Tensor& x) {
  Tensor out = detail::map_floating(x, "relu", [](auto v) { return v > 0 ? v : decltype(v)(0); });
  autograd::record("ReluBackward", {x}, {out}, {out}, [](const Grads& g, const Grads& s, const Node&) {
    Tensor grad = empty(g[0].shape(), {.dtype = g[0].dtype()});
    dispatch_floating(grad.dtype(), "relu_backward", [&]<typename T>() {
      detail::binary_kernel<T, T, T>(grad, g[0], s[0], [](T gv, T y) { return float(y) > 0 ? gv : T(0.0f); });
    });
    return Grads{grad};
  });
  return out;
}

}  // namespace tessera
