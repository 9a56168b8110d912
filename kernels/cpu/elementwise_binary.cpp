// CpuBackend::binary (arithmetic, pow, maximum/minimum, comparisons, masked_fill, where_grad; gradients in
// elementwise_backward.cpp), CpuBackend::ternary, fill and arange.
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/elementwise_loops.h"
#include "kernels/elementwise_ops.h"

namespace tessera::kernels::cpu {

void binary_backward(BinaryOp op, const StridedOperands<3>& ops, const StridedArg& out, const StridedArg& a,
                     const StridedArg& b, const OpScalars& s);

namespace {

// out, a, b of one dtype T; `Dispatch` picks which dtypes exist.
template <template <typename> class Op, typename Dispatch>
void same_type(Dispatch dispatch, BinaryOp op, const StridedOperands<3>& ops, const StridedArg& out,
               const StridedArg& a, const StridedArg& b, const OpScalars& s) {
  expect_dtype(a, out.dtype, op_name(op), "first operand");
  expect_dtype(b, out.dtype, op_name(op), "second operand");
  dispatch(out.dtype, op_name(op), [&]<typename T>() { binary_loop<T, T, T>(ops, Op<T>(s)); });
}

const auto numeric_types = [](DType d, const char* name, auto&& f) {
  dispatch_numeric(d, name, [&]<typename T>() {
    if constexpr (!std::is_same_v<T, bool>) f.template operator()<T>();  // bool excluded by dispatch_numeric
  });
};
const auto all_types = [](DType d, const char* name, auto&& f) { dispatch_all(d, name, f); };
const auto floating_types = [](DType d, const char* name, auto&& f) { dispatch_floating(d, name, f); };

// a, b of one dtype, out bool.
template <template <typename> class Op>
void compare(BinaryOp op, const StridedOperands<3>& ops, const StridedArg& out, const StridedArg& a,
             const StridedArg& b, const OpScalars& s) {
  expect_dtype(out, DType::boolean, op_name(op), "output");
  expect_dtype(b, a.dtype, op_name(op), "second operand");
  dispatch_all(a.dtype, op_name(op), [&]<typename T>() { binary_loop<bool, T, T>(ops, Op<T>(s)); });
}

}  // namespace

void CpuBackend::binary(BinaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a,
                        const StridedArg& b, const OpScalars& s) {
  const StridedOperands<3> o = strided_operands<3>(loop, {&out, &a, &b}, host_offset_);
  switch (op) {
    case BinaryOp::add: return same_type<ops::Add>(all_types, op, o, out, a, b, s);  // bool: logical or
    case BinaryOp::sub: return same_type<ops::Sub>(numeric_types, op, o, out, a, b, s);
    case BinaryOp::mul: return same_type<ops::Mul>(all_types, op, o, out, a, b, s);
    case BinaryOp::div: return same_type<ops::Div>(floating_types, op, o, out, a, b, s);
    case BinaryOp::pow: return same_type<ops::Pow>(numeric_types, op, o, out, a, b, s);
    case BinaryOp::maximum: return same_type<ops::Maximum>(all_types, op, o, out, a, b, s);
    case BinaryOp::minimum: return same_type<ops::Minimum>(all_types, op, o, out, a, b, s);
    case BinaryOp::eq: return compare<ops::Eq>(op, o, out, a, b, s);
    case BinaryOp::ne: return compare<ops::Ne>(op, o, out, a, b, s);
    case BinaryOp::lt: return compare<ops::Lt>(op, o, out, a, b, s);
    case BinaryOp::le: return compare<ops::Le>(op, o, out, a, b, s);
    case BinaryOp::gt: return compare<ops::Gt>(op, o, out, a, b, s);
    case BinaryOp::ge: return compare<ops::Ge>(op, o, out, a, b, s);
    case BinaryOp::masked_fill:
      expect_dtype(a, out.dtype, op_name(op), "input");
      expect_dtype(b, DType::boolean, op_name(op), "mask");
      return dispatch_all(out.dtype, op_name(op), [&]<typename T>() {
        binary_loop<T, T, bool>(o, ops::MaskedFill<T>(s));
      });
    case BinaryOp::where_grad:
      expect_dtype(a, DType::boolean, op_name(op), "condition");
      expect_dtype(b, out.dtype, op_name(op), "gradient");
      return dispatch_floating(out.dtype, op_name(op), [&]<typename T>() {
        binary_loop<T, bool, T>(o, ops::WhereGrad<T>(s));
      });
    default: return binary_backward(op, o, out, a, b, s);
  }
}

void CpuBackend::ternary(TernaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a,
                         const StridedArg& b, const StridedArg& c, const OpScalars& s) {
  const StridedOperands<4> o = strided_operands<4>(loop, {&out, &a, &b, &c}, host_offset_);
  if (op == TernaryOp::where) {
    expect_dtype(a, DType::boolean, op_name(op), "condition");
    expect_dtype(b, out.dtype, op_name(op), "first operand");
    expect_dtype(c, out.dtype, op_name(op), "second operand");
    return dispatch_all(out.dtype, op_name(op), [&]<typename T>() {
      ternary_loop<T, bool, T, T>(o, ops::Where<T>(s));
    });
  }
  for (const StridedArg* arg : {&a, &b, &c}) expect_dtype(*arg, out.dtype, op_name(op), "operand");
  dispatch_floating(out.dtype, op_name(op), [&]<typename T>() {
    if (op == TernaryOp::pow_backward_base) ternary_loop<T, T, T, T>(o, ops::PowBackwardBase<T>(s));
    else ternary_loop<T, T, T, T>(o, ops::PowBackwardExponent<T>(s));
  });
}

void CpuBackend::fill(const LoopShape& loop, const StridedArg& out, double value) {
  const StridedOperands<1> o = strided_operands<1>(loop, {&out}, host_offset_);
  dispatch_all(out.dtype, "fill", [&]<typename T>() {
    const T v = ops::from_double<T>(value);
    strided_for_each<1>(o, [v](std::array<char*, 1> p, std::array<int64_t, 1> s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = v;
    });
  });
}

void CpuBackend::arange(void* out, DType dtype, int64_t n, double start, double step) {
  dispatch_numeric(dtype, "arange", [&]<typename T>() {
    T* p = host(static_cast<T*>(out));
    for (int64_t i = 0; i < n; ++i) p[i] = ops::from_double<T>(start + static_cast<double>(i) * step);
  });
}

}  // namespace tessera::kernels::cpu
