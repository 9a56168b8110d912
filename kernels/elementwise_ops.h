#pragma once
// The element math of every elementwise op, written once for every device: functor templates over the stored
// dtype T, computing in acc_t<T> (f32 for bf16/f16) and rounding back, as PyTorch does. A backend's loop builds
// Op<T>(scalars) once per call and applies it per element. Formulas follow PyTorch's term for term (gelu, pow's
// special exponents, gradients at 0), so f32 results agree to rounding.
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/common/dtype.h"
#include "kernels/common/host_device.h"
#include "kernels/element_math.h"
#include "kernels/elementwise_args.h"

namespace tessera::kernels::ops {

// --- helpers

// base^exp for integers: exact repeated squaring that wraps on overflow; a negative exponent gives 0 except for
// bases 1 and -1, as PyTorch's integer pow.
template <typename I>
TESSERA_HD_INLINE I int_pow(I base, int64_t exp) {
  if (exp < 0) {
    if (base == 1) return 1;
    if constexpr (std::is_signed_v<I>) {
      if (base == -1) return exp % 2 != 0 ? I(-1) : I(1);  // not -exp: exp may be INT64_MIN
    }
    return 0;
  }
  using U = std::make_unsigned_t<I>;
  U result = 1, b = static_cast<U>(base);
  for (; exp > 0; exp >>= 1) {
    if (exp & 1) result = static_cast<U>(result * b);
    b = static_cast<U>(b * b);
  }
  return static_cast<I>(result);
}

// v^e for a floating v and a scalar e, with the exponents PyTorch special-cases (bitwise equal results).
template <typename A>
TESSERA_HD_INLINE A pow_scalar_value(A v, double e) {
  if (e == 2.0) return v * v;
  if (e == 3.0) return v * v * v;
  if (e == 0.5) return math::sqrt(v);
  if (e == -0.5) return A(1) / math::sqrt(v);
  if (e == -1.0) return A(1) / v;
  if (e == -2.0) return A(1) / (v * v);
  return math::pow(v, A(e));
}

// clamp's bounds: cast to T first (as PyTorch casts them to the tensor's dtype), then to acc_t<T>; absent ones
// unbounded.
template <typename T>
struct ClampBounds {
  using A = acc_t<T>;
  A lo, hi;
  explicit ClampBounds(const OpScalars& s) {
    constexpr bool inf = std::numeric_limits<A>::has_infinity;
    lo = s.has_a ? A(T(s.a)) : (inf ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::lowest());
    hi = s.has_b ? A(T(s.b)) : (inf ? std::numeric_limits<A>::infinity() : std::numeric_limits<A>::max());
  }
};

constexpr double kSqrt1_2 = 0.70710678118654752440;                                  // M_SQRT1_2
constexpr double kErfPdf = 1.12837916709551257390 * kSqrt1_2 * 0.5;                  // 1/sqrt(2 pi)
constexpr double kTanhBeta = 1.41421356237309504880 * 1.12837916709551257390 * 0.5;  // sqrt(2/pi)
constexpr double kTanhKappa = 0.044715;

// A functor over acc_t<T> from a lambda-like body: Unary<T, Body>::operator() converts in and out.
#define TESSERA_UNARY_FUNCTOR(Name, body)                                  \
  template <typename T>                                                   \
  struct Name {                                                           \
    using A = acc_t<T>;                                                   \
    explicit Name(const OpScalars&) {}                                    \
    TESSERA_HD_INLINE T operator()(T value) const {                       \
      const A v = static_cast<A>(value);                                  \
      return T(body);                                                     \
    }                                                                     \
  }
// gradient g and saved tensor v (the op's input or output, as its backward needs) -> input gradient.
#define TESSERA_BACKWARD_FUNCTOR(Name, body)                               \
  template <typename T>                                                   \
  struct Name {                                                           \
    using A = acc_t<T>;                                                   \
    explicit Name(const OpScalars&) {}                                    \
    TESSERA_HD_INLINE T operator()(T grad, T saved) const {               \
      const A g = static_cast<A>(grad), v = static_cast<A>(saved);        \
      return T(body);                                                     \
    }                                                                     \
  }

// --- unary (numeric)
// -v, wrapping for signed integers (-INT_MIN is INT_MIN, as PyTorch's); floats keep -0 and NaN's sign flip.
template <typename A>
TESSERA_HD_INLINE A negated(A v) {
  if constexpr (std::is_integral_v<A> && std::is_signed_v<A>) return A(wrapping_t<A>(0) - wrapping_t<A>(v));
  else return -v;
}
TESSERA_UNARY_FUNCTOR(Neg, negated(v));

// NaN and -0 stay, as PyTorch (clamp_min). Unsigned values pass unchanged (nvcc warns on `v < 0` for them).
template <typename A>
TESSERA_HD_INLINE A relu_value(A v) {
  if constexpr (std::is_unsigned_v<A>) return v;
  else return v < 0 ? A(0) : v;
}
TESSERA_UNARY_FUNCTOR(Relu, relu_value(v));

template <typename T>
struct Abs {
  explicit Abs(const OpScalars&) {}
  TESSERA_HD_INLINE T operator()(T value) const {
    using A = acc_t<T>;
    const A v = static_cast<A>(value);
    if constexpr (std::is_unsigned_v<A>) return T(v);
    else if constexpr (std::is_floating_point_v<A>) return T(math::abs(v));
    else return T(v < 0 ? negated(v) : v);
  }
};

template <typename T>
struct Clamp {
  ClampBounds<T> bounds;
  explicit Clamp(const OpScalars& s) : bounds(s) {}
  TESSERA_HD_INLINE T operator()(T value) const {
    acc_t<T> t = static_cast<acc_t<T>>(value);
    t = t < bounds.lo ? bounds.lo : t;  // NaN stays NaN; lo > hi gives hi, as std::min(std::max(v, lo), hi)
    return T(t > bounds.hi ? bounds.hi : t);
  }
};

template <typename T>
struct PowScalar {
  double exponent;
  explicit PowScalar(const OpScalars& s) : exponent(s.a) {}
  TESSERA_HD_INLINE T operator()(T v) const {
    if constexpr (std::is_integral_v<T>) return int_pow(v, static_cast<int64_t>(exponent));
    else return T(pow_scalar_value(acc_t<T>(v), exponent));
  }
};

// --- unary (floating)
TESSERA_UNARY_FUNCTOR(Exp, math::exp(v));
TESSERA_UNARY_FUNCTOR(Log, math::log(v));
TESSERA_UNARY_FUNCTOR(Sqrt, math::sqrt(v));
TESSERA_UNARY_FUNCTOR(Rsqrt, A(1) / math::sqrt(v));
TESSERA_UNARY_FUNCTOR(Sigmoid, math::sigmoid(v));
TESSERA_UNARY_FUNCTOR(Tanh, math::tanh(v));
TESSERA_UNARY_FUNCTOR(Gelu, v * A(0.5) * (A(1) + math::erf(v * A(kSqrt1_2))));
// x sigmoid(x) as PyTorch writes it, x / (1 + exp(-x)): NaN at -inf, as PyTorch's.
TESSERA_UNARY_FUNCTOR(Silu, v / (A(1) + math::exp(-v)));
TESSERA_UNARY_FUNCTOR(GeluTanh, A(0.5) * v * (A(1) + math::tanh(A(kTanhBeta) * (v + A(kTanhKappa) * (v * v * v)))));

template <typename T>
struct LeakyRelu {
  using A = acc_t<T>;
  A slope;
  explicit LeakyRelu(const OpScalars& s) : slope(A(s.a)) {}
  TESSERA_HD_INLINE T operator()(T value) const {
    const A v = static_cast<A>(value);
    return T(math::select(v > 0, v, v * slope));
  }
};

// --- conversions and logic (any dtype)

// A floating value as the integer type I, alike on every device: NaN gives 0 and a value past the range
// saturates, as a GPU's conversion instruction does (x86 gives the "integer indefinite" minimum instead, and C++
// leaves both undefined). u8 goes through int64 so a negative value wraps (-1 -> 255), as PyTorch's CPU does.
template <typename I, typename F>
TESSERA_HD_INLINE I floating_to_integer(F v) {
  using Wide = std::conditional_t<std::is_same_v<I, uint8_t>, int64_t, I>;
  constexpr F kLow = static_cast<F>(std::numeric_limits<Wide>::min());  // -2^31 or -2^63: exact in f32 and f64
  if (v != v) return I(0);
  if (v <= kLow) return static_cast<I>(std::numeric_limits<Wide>::min());
  if (v >= -kLow) return static_cast<I>(std::numeric_limits<Wide>::max());
  return static_cast<I>(static_cast<Wide>(v));
}

template <typename TOut, typename TIn>
TESSERA_HD_INLINE TOut convert(TIn v) {
  using A = acc_t<TIn>;
  if constexpr (std::is_same_v<TOut, bool>) return static_cast<float>(v) != 0.0f;
  else if constexpr (std::is_integral_v<TOut> && std::is_floating_point_v<A>)
    return floating_to_integer<TOut>(static_cast<A>(v));
  else return static_cast<TOut>(static_cast<A>(v));
}

// A number stored in T (bool: nonzero is true).
template <typename T>
TESSERA_HD_INLINE T from_double(double value) {
  if constexpr (std::is_same_v<T, bool>) return value != 0.0;
  else if constexpr (std::is_integral_v<T>) return floating_to_integer<T>(value);
  else return static_cast<T>(static_cast<acc_t<T>>(value));
}

template <typename T>
struct LogicalNot {
  explicit LogicalNot(const OpScalars&) {}
  TESSERA_HD_INLINE bool operator()(T v) const { return static_cast<acc_t<T>>(v) == acc_t<T>(0); }
};

// --- binary arithmetic (out, a, b of one dtype)
template <typename T>
struct Add {
  using A = acc_t<T>;
  A alpha;
  explicit Add(const OpScalars& s) : alpha(static_cast<A>(s.a)) {}
  TESSERA_HD_INLINE T operator()(T p, T q) const {
    using W = wrapping_t<A>;
    return T(A(W(A(p)) + W(alpha) * W(A(q))));
  }
};
template <typename T>
struct Sub {
  using A = acc_t<T>;
  A alpha;
  explicit Sub(const OpScalars& s) : alpha(static_cast<A>(s.a)) {}
  TESSERA_HD_INLINE T operator()(T p, T q) const {
    using W = wrapping_t<A>;
    return T(A(W(A(p)) - W(alpha) * W(A(q))));
  }
};
template <typename T>
struct Mul {
  explicit Mul(const OpScalars&) {}
  TESSERA_HD_INLINE T operator()(T p, T q) const {
    if constexpr (std::is_same_v<T, bool>) return p && q;
    else return T(acc_t<T>(wrapping_t<acc_t<T>>(p) * wrapping_t<acc_t<T>>(q)));
  }
};
template <typename T>
struct Div {
  explicit Div(const OpScalars&) {}
  TESSERA_HD_INLINE T operator()(T p, T q) const { return T(acc_t<T>(p) / acc_t<T>(q)); }
};
template <typename T>
struct Pow {
  explicit Pow(const OpScalars&) {}
  TESSERA_HD_INLINE T operator()(T b, T e) const {
    if constexpr (std::is_integral_v<T>) return int_pow(b, static_cast<int64_t>(e));
    else return T(math::pow(acc_t<T>(b), acc_t<T>(e)));
  }
};

// maximum / minimum: a NaN operand gives NaN, as PyTorch (std::max / fmax would drop it, so a NaN could hide);
// otherwise std::max / std::min's choice (the first operand on ties).
template <typename T, bool kMax>
struct Extreme {
  explicit Extreme(const OpScalars&) {}
  TESSERA_HD_INLINE T operator()(T p, T q) const {
    const acc_t<T> a = static_cast<acc_t<T>>(p), b = static_cast<acc_t<T>>(q);
    if constexpr (std::is_floating_point_v<acc_t<T>>) {
      if (a != a) return p;
      if (b != b) return q;
    }
    return (kMax ? a < b : b < a) ? q : p;
  }
};
template <typename T>
using Maximum = Extreme<T, true>;
template <typename T>
using Minimum = Extreme<T, false>;

// --- comparisons (a, b of one dtype; out bool)
#define TESSERA_COMPARE_FUNCTOR(Name, expr)                                                        \
  template <typename T>                                                                           \
  struct Name {                                                                                   \
    explicit Name(const OpScalars&) {}                                                            \
    TESSERA_HD_INLINE bool operator()(T p, T q) const {                                           \
      const acc_t<T> a = static_cast<acc_t<T>>(p), b = static_cast<acc_t<T>>(q);                  \
      return expr;                                                                                \
    }                                                                                             \
  }
TESSERA_COMPARE_FUNCTOR(Eq, a == b);
TESSERA_COMPARE_FUNCTOR(Ne, a != b);
TESSERA_COMPARE_FUNCTOR(Lt, a < b);
TESSERA_COMPARE_FUNCTOR(Le, a <= b);
TESSERA_COMPARE_FUNCTOR(Gt, a > b);
TESSERA_COMPARE_FUNCTOR(Ge, a >= b);
#undef TESSERA_COMPARE_FUNCTOR

// --- selecting
template <typename T>
struct MaskedFill {  // (value, mask) -> out
  T fill;
  explicit MaskedFill(const OpScalars& s) : fill(from_double<T>(s.a)) {}
  TESSERA_HD_INLINE T operator()(T v, bool masked) const { return masked ? fill : v; }
};
template <typename T>
struct WhereGrad {  // (condition, gradient) -> the gradient where condition == keep_when, else 0
  bool keep_when;
  explicit WhereGrad(const OpScalars& s) : keep_when(s.a != 0.0) {}
  TESSERA_HD_INLINE T operator()(bool c, T g) const { return c == keep_when ? g : T(0.0f); }
};
template <typename T>
struct Where {
  explicit Where(const OpScalars&) {}
  TESSERA_HD_INLINE T operator()(bool c, T p, T q) const { return c ? p : q; }
};

// --- gradients: (g, v) with v the saved input or output
TESSERA_BACKWARD_FUNCTOR(ReluBackward, v <= 0 ? A(0) : g);  // v = output; NaN passes g (threshold_backward)
TESSERA_BACKWARD_FUNCTOR(SigmoidBackward, g * (A(1) - v) * v);            // v = output
TESSERA_BACKWARD_FUNCTOR(TanhBackward, g * (A(1) - v * v));               // v = output
TESSERA_BACKWARD_FUNCTOR(SqrtBackward, g / (2 * v));                      // v = output
TESSERA_BACKWARD_FUNCTOR(RsqrtBackward, A(-0.5) * g * (v * v * v));       // v = output
TESSERA_BACKWARD_FUNCTOR(AbsBackward, g * A((v > 0) - (v < 0)));          // v = input; sign(0) = 0 as sgn
TESSERA_BACKWARD_FUNCTOR(GeluBackward,                                    // v = input
                         g * (A(0.5) * (A(1) + math::erf(v * A(kSqrt1_2))) +
                              v * (A(kErfPdf) * math::exp(v * v * A(-0.5)))));

template <typename T>
struct SiluBackward {  // v = input; PyTorch's g * s * (1 + x (1 - s)), s = sigmoid(x)
  using A = acc_t<T>;
  explicit SiluBackward(const OpScalars&) {}
  TESSERA_HD_INLINE T operator()(T grad, T saved) const {
    const A g = static_cast<A>(grad), v = static_cast<A>(saved);
    const A s = A(1) / (A(1) + math::exp(-v));
    return T(g * s * (A(1) + v * (A(1) - s)));
  }
};

template <typename T>
struct GeluTanhBackward {  // v = input
  using A = acc_t<T>;
  explicit GeluTanhBackward(const OpScalars&) {}
  TESSERA_HD_INLINE T operator()(T grad, T saved) const {
    const A g = static_cast<A>(grad), v = static_cast<A>(saved);
    const A x_sq = v * v;
    const A inner = A(kTanhBeta) * (v + A(kTanhKappa) * (x_sq * v));
    const A tanh_inner = math::tanh(inner);
    const A left_derivative = A(0.5) * (A(1) + tanh_inner);
    const A inner_derivative = A(kTanhBeta) * (A(1) + A(3) * A(kTanhKappa) * x_sq);
    const A right_derivative = A(0.5) * v * (A(1) - tanh_inner * tanh_inner) * inner_derivative;
    return T(g * (left_derivative + right_derivative));
  }
};

template <typename T>
struct LeakyReluBackward {  // v = input
  using A = acc_t<T>;
  A slope;
  explicit LeakyReluBackward(const OpScalars& s) : slope(A(s.a)) {}
  TESSERA_HD_INLINE T operator()(T grad, T saved) const {
    const A g = static_cast<A>(grad), v = static_cast<A>(saved);
    return T(math::select(v > 0, g, g * slope));
  }
};

template <typename T>
struct ClampBackward {  // v = input (in the clamp's dtype)
  ClampBounds<T> bounds;
  explicit ClampBackward(const OpScalars& s) : bounds(s) {}
  TESSERA_HD_INLINE T operator()(T g, T v) const {
    return acc_t<T>(v) >= bounds.lo && acc_t<T>(v) <= bounds.hi ? g : T(0.0f);
  }
};

template <typename T>
struct PowScalarBackward {  // v = input; the front end handles exponent 0 (a zero gradient)
  using A = acc_t<T>;
  double exponent;
  explicit PowScalarBackward(const OpScalars& s) : exponent(s.a) {}
  TESSERA_HD_INLINE T operator()(T grad, T saved) const {
    const A g = static_cast<A>(grad), v = static_cast<A>(saved);
    return T(g * (A(exponent) * pow_scalar_value(v, exponent - 1.0)));
  }
};

// pow(b, e) gradients (g, b, e): zero where e == 0 (d/db), zero where b == 0 and e >= 0 (d/de), as PyTorch.
template <typename T>
struct PowBackwardBase {
  using A = acc_t<T>;
  explicit PowBackwardBase(const OpScalars&) {}
  TESSERA_HD_INLINE T operator()(T g, T b, T e) const {
    return T(A(e) == 0 ? A(0) : A(g) * (A(e) * math::pow(A(b), A(e) - A(1))));
  }
};
template <typename T>
struct PowBackwardExponent {
  using A = acc_t<T>;
  explicit PowBackwardExponent(const OpScalars&) {}
  TESSERA_HD_INLINE T operator()(T g, T b, T e) const {
    return T(A(b) == 0 && A(e) >= 0 ? A(0) : A(g) * (A(T(math::pow(A(b), A(e)))) * math::log(A(b))));
  }
};

#undef TESSERA_UNARY_FUNCTOR
#undef TESSERA_BACKWARD_FUNCTOR

}  // namespace tessera::kernels::ops
