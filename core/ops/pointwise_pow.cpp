// pow with a scalar or a tensor exponent. Integer bases with integer exponents stay integers (exact repeated
// squaring, wrapping on overflow like PyTorch); everything else computes in acc_t of the floating result type.
// The scalar form special-cases the exponents PyTorch special-cases (2, 3, 0.5, -0.5, -1, -2) so f32 results agree
// bit for bit. Gradients follow PyTorch: zero where the exponent is 0 (d/dx), zero where x == 0 and the exponent
// is >= 0 (d/dexponent).
#include <cmath>
#include <type_traits>

#include "core/autograd/node.h"
#include "core/ops/factory.h"
#include "core/ops/pointwise_helpers.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

// base^exp for integers. A negative exponent gives 0 except for bases 1 and -1, as PyTorch's integer pow.
template <typename I>
I int_pow(I base, int64_t exp) {
  if (exp < 0) {
    if (base == 1) return 1;
    if constexpr (std::is_signed_v<I>) {
      if (base == -1) return (-exp) % 2 == 1 ? I(-1) : I(1);
    }
    return 0;
  }
  using U = std::make_unsigned_t<I>;  // wraps instead of signed overflow
  U result = 1, b = static_cast<U>(base);
  for (; exp > 0; exp >>= 1) {
    if (exp & 1) result = static_cast<U>(result * b);
    b = static_cast<U>(b * b);
  }
  return static_cast<I>(result);
}

// v^e for a floating v and a scalar e, with PyTorch's special cases.
template <typename A>
A pow_scalar_value(A v, double e) {
  if (e == 2.0) return v * v;
  if (e == 3.0) return v * v * v;
  if (e == 0.5) return std::sqrt(v);
  if (e == -0.5) return A(1) / std::sqrt(v);
  if (e == -1.0) return A(1) / v;
  if (e == -2.0) return A(1) / (v * v);
  return std::pow(v, A(e));
}

}  // namespace

Tensor pow(const Tensor& x, double exponent) {
  const DType type = detail::scalar_result_type(x.dtype(), {exponent});
  TESSERA_CHECK(type != DType::boolean, "pow: not defined for bool tensors");
  const Tensor in = x.to(type);
  Tensor out = empty(in.shape(), {.dtype = type});
  dispatch_numeric(type, "pow", [&]<typename T>() {
    if constexpr (std::is_same_v<T, bool>) {
      return;  // excluded by dispatch_numeric
    } else if constexpr (std::is_integral_v<T>) {
      TESSERA_CHECK(exponent >= 0, "pow: integers to negative integer powers are not allowed (", dtype_name(type),
                    " tensor of shape ", shape_str(x.shape()), ", exponent ", exponent, ")");
      const auto e = static_cast<int64_t>(exponent);
      detail::unary_kernel<T, T>(out, in, [e](T v) { return int_pow(v, e); });
    } else {
      detail::unary_kernel<T, T>(out, in, [exponent](T v) { return T(pow_scalar_value(acc_t<T>(v), exponent)); });
    }
  });
  autograd::record("PowBackward", {in}, {out}, {in}, [exponent](const Grads& g, const Grads& s, const Node&) {
    if (exponent == 0.0) return Grads{zeros(s[0].shape(), {.dtype = s[0].dtype()})};
    return Grads{detail::backward_map(g[0], s[0], "pow_backward", [exponent](auto gv, auto v) TESSERA_INLINE_LAMBDA {
      using A = decltype(v);
      return gv * (A(exponent) * pow_scalar_value(v, exponent - 1.0));
    })};
  });
  return out;
}

Tensor pow(const Tensor& x, const Tensor& exponent) {
  const DType type = promote_types(x.dtype(), exponent.dtype());
  TESSERA_CHECK(type != DType::boolean, "pow: not defined for bool tensors");
  const Tensor base = x.to(type);
  const Tensor power = exponent.to(type);
  Tensor out = empty(broadcast_shapes(x.shape(), exponent.shape()), {.dtype = type});
  dispatch_numeric(type, "pow", [&]<typename T>() {
    if constexpr (std::is_same_v<T, bool>) {
      return;  // excluded by dispatch_numeric
    } else if constexpr (std::is_integral_v<T>) {
      detail::binary_kernel<T, T, T>(out, base, power, [](T b, T e) { return int_pow(b, static_cast<int64_t>(e)); });
    } else {
      detail::binary_kernel<T, T, T>(out, base, power, [](T b, T e) { return T(std::pow(acc_t<T>(b), acc_t<T>(e))); });
    }
  });
  // Recorded on the converted operands: their ToCopyBackward nodes return each gradient in its input's dtype.
  autograd::record("PowBackward", {base, power}, {out}, {base, power}, [](const Grads& g, const Grads& s,
                                                                           const Node& n) {
    Grads grads(2);
    const DType type = s[0].dtype();
    for (size_t i = 0; i < 2; ++i) {
      if (!n.needs_input_grad(i)) continue;
      Tensor grad = empty(g[0].shape(), {.dtype = type});
      dispatch_floating(type, "pow_backward", [&]<typename T>() {
        using A = acc_t<T>;
        if (i == 0) {
          detail::ternary_kernel<T, T, T, T>(grad, g[0], s[0], s[1], [](T gv, T b, T e) {
            return T(A(e) == 0 ? A(0) : A(gv) * (A(e) * std::pow(A(b), A(e) - A(1))));
          });
        } else {
          detail::ternary_kernel<T, T, T, T>(grad, g[0], s[0], s[1], [](T gv, T b, T e) {
            return T(A(b) == 0 && A(e) >= 0 ? A(0) : A(gv) * (A(T(std::pow(A(b), A(e)))) * std::log(A(b))));
          });
        }
      });
      grads[i] = sum_to(grad, n.input_meta[i].shape);
    }
    return grads;
  });
  return out;
}

}  // namespace tessera
