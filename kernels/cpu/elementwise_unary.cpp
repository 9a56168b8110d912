// CpuBackend::unary: one functor (kernels/elementwise_ops.h) per op, instantiated for the dtypes the op takes.
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/elementwise_loops.h"
#include "kernels/elementwise_ops.h"

namespace tessera::kernels::cpu {

namespace {

// out = Op<T>(in) for T = the operand dtype, out and in of one dtype. Dispatch picks which dtypes exist.
template <template <typename> class Op, typename Dispatch>
void same_type(Dispatch dispatch, UnaryOp op, const StridedOperands<2>& ops, const StridedArg& out,
               const StridedArg& in, const OpScalars& s) {
  expect_dtype(out, in.dtype, op_name(op), "output");
  dispatch(in.dtype, op_name(op), [&]<typename T>() { unary_loop<T, T>(ops, Op<T>(s)); });
}

template <template <typename> class Op>
void numeric(UnaryOp op, const StridedOperands<2>& ops, const StridedArg& out, const StridedArg& in,
             const OpScalars& s) {
  same_type<Op>([](DType d, const char* name, auto&& f) {
    dispatch_numeric(d, name, [&]<typename T>() {
      if constexpr (!std::is_same_v<T, bool>) f.template operator()<T>();  // excluded by dispatch_numeric
    });
  }, op, ops, out, in, s);
}

template <template <typename> class Op>
void floating(UnaryOp op, const StridedOperands<2>& ops, const StridedArg& out, const StridedArg& in,
              const OpScalars& s) {
  same_type<Op>([](DType d, const char* name, auto&& f) { dispatch_floating(d, name, f); }, op, ops, out, in, s);
}

void convert(const StridedOperands<2>& ops, DType out, DType in) {
  dispatch_all(out, "copy", [&]<typename TOut>() {
    dispatch_all(in, "copy", [&]<typename TIn>() {
      unary_loop<TOut, TIn>(ops, [](TIn v) TESSERA_HD_INLINE_LAMBDA { return ops::convert<TOut>(v); });
    });
  });
}

}  // namespace

void CpuBackend::unary(UnaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& in,
                       const OpScalars& s) {
  const StridedOperands<2> o = strided_operands<2>(loop, {&out, &in}, host_offset_);
  switch (op) {
    case UnaryOp::copy: return convert(o, out.dtype, in.dtype);
    case UnaryOp::logical_not:
      expect_dtype(out, DType::boolean, op_name(op), "output");
      return dispatch_all(in.dtype, op_name(op), [&]<typename T>() { unary_loop<bool, T>(o, ops::LogicalNot<T>(s)); });
    case UnaryOp::neg: return numeric<ops::Neg>(op, o, out, in, s);
    case UnaryOp::abs: return numeric<ops::Abs>(op, o, out, in, s);
    case UnaryOp::relu: return numeric<ops::Relu>(op, o, out, in, s);
    case UnaryOp::clamp: return numeric<ops::Clamp>(op, o, out, in, s);
    case UnaryOp::pow_scalar: return numeric<ops::PowScalar>(op, o, out, in, s);
    case UnaryOp::exp: return floating<ops::Exp>(op, o, out, in, s);
    case UnaryOp::log: return floating<ops::Log>(op, o, out, in, s);
    case UnaryOp::sqrt: return floating<ops::Sqrt>(op, o, out, in, s);
    case UnaryOp::rsqrt: return floating<ops::Rsqrt>(op, o, out, in, s);
    case UnaryOp::sigmoid: return floating<ops::Sigmoid>(op, o, out, in, s);
    case UnaryOp::tanh: return floating<ops::Tanh>(op, o, out, in, s);
    case UnaryOp::gelu: return floating<ops::Gelu>(op, o, out, in, s);
    case UnaryOp::gelu_tanh: return floating<ops::GeluTanh>(op, o, out, in, s);
    case UnaryOp::leaky_relu: return floating<ops::LeakyRelu>(op, o, out, in, s);
    case UnaryOp::silu: return floating<ops::Silu>(op, o, out, in, s);
  }
  TESSERA_THROW("unary: unknown op ", static_cast<int>(op));
}

}  // namespace tessera::kernels::cpu
