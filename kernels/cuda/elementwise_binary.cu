// CudaBackend::binary (arithmetic, pow, maximum/minimum, masked_fill, where_grad; comparisons in
// elementwise_compare.cu, gradients in elementwise_backward.cu) and CudaBackend::ternary: functors of
// kernels/elementwise_ops.h launched through elementwise_loops.cuh.
//
// Invariants (why):
//  - Each op instantiates kernels only for the dtypes it takes (kernels/elementwise_args.h): add/sub/pow and
//    maximum/minimum skip bool, mul takes bool (logical and), div is floating only; this bounds the compile time.
//  - Operands with a fixed role keep their own dtype (masked_fill's mask, where's condition are bool); every other
//    operand must equal the output's dtype, checked before anything is queued, as the CPU checks.
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/elementwise_loops.cuh"

namespace tessera::kernels::cuda {

namespace {

using elementwise::DTypeSet;
using elementwise::LaunchContext;

template <template <typename> class Op, DTypeSet kSet>
void same_dtype(const LaunchContext& ctx, BinaryOp op, const LoopShape& loop, const StridedArg& out,
                const StridedArg& a, const StridedArg& b, const OpScalars& scalars) {
  elementwise::launch_same_dtype<Op, kSet, 3>(ctx, op_name(op), loop, {&out, &a, &b}, scalars);
}

// out = a where the mask b is false, the fill value where it is true.
void masked_fill(const LaunchContext& ctx, const LoopShape& loop, const StridedArg& out, const StridedArg& a,
                 const StridedArg& mask, const OpScalars& scalars) {
  const char* name = op_name(BinaryOp::masked_fill);
  elementwise::expect_dtype(ctx, name, "input", a, out.dtype);
  elementwise::expect_dtype(ctx, name, "mask", mask, DType::boolean);
  elementwise::dispatch_dtype<DTypeSet::all>(out.dtype, ctx, name, [&]<typename T>() {
    elementwise::launch_elementwise<T, T, bool>(ctx, loop, {&out, &a, &mask}, ops::MaskedFill<T>(scalars));
  });
}

// out = the gradient b where the condition a equals scalars.a != 0, else 0.
void where_grad(const LaunchContext& ctx, const LoopShape& loop, const StridedArg& out, const StridedArg& condition,
                const StridedArg& grad, const OpScalars& scalars) {
  const char* name = op_name(BinaryOp::where_grad);
  elementwise::expect_dtype(ctx, name, "condition", condition, DType::boolean);
  elementwise::expect_dtype(ctx, name, "gradient", grad, out.dtype);
  elementwise::dispatch_dtype<DTypeSet::floating>(out.dtype, ctx, name, [&]<typename T>() {
    elementwise::launch_elementwise<T, bool, T>(ctx, loop, {&out, &condition, &grad}, ops::WhereGrad<T>(scalars));
  });
}

}  // namespace

void CudaBackend::binary(BinaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a,
                         const StridedArg& b, const OpScalars& scalars) {
  const LaunchContext ctx{name_.c_str(), stream()};
  constexpr DTypeSet all = DTypeSet::all, numeric = DTypeSet::numeric, floating = DTypeSet::floating;
  switch (op) {
    case BinaryOp::add: return same_dtype<ops::Add, all>(ctx, op, loop, out, a, b, scalars);  // bool: logical or
    case BinaryOp::sub: return same_dtype<ops::Sub, numeric>(ctx, op, loop, out, a, b, scalars);
    case BinaryOp::mul: return same_dtype<ops::Mul, all>(ctx, op, loop, out, a, b, scalars);
    case BinaryOp::div: return same_dtype<ops::Div, floating>(ctx, op, loop, out, a, b, scalars);
    case BinaryOp::pow: return same_dtype<ops::Pow, numeric>(ctx, op, loop, out, a, b, scalars);
    case BinaryOp::maximum: return same_dtype<ops::Maximum, all>(ctx, op, loop, out, a, b, scalars);
    case BinaryOp::minimum: return same_dtype<ops::Minimum, all>(ctx, op, loop, out, a, b, scalars);
    case BinaryOp::eq:
    case BinaryOp::ne:
    case BinaryOp::lt:
    case BinaryOp::le:
    case BinaryOp::gt:
    case BinaryOp::ge: return elementwise::compare(ctx, op, loop, out, a, b);
    case BinaryOp::masked_fill: return masked_fill(ctx, loop, out, a, b, scalars);
    case BinaryOp::where_grad: return where_grad(ctx, loop, out, a, b, scalars);
    default: return elementwise::binary_backward(ctx, op, loop, out, a, b, scalars);
  }
}

void CudaBackend::ternary(TernaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a,
                          const StridedArg& b, const StridedArg& c, const OpScalars& scalars) {
  const LaunchContext ctx{name_.c_str(), stream()};
  switch (op) {
    case TernaryOp::where: {
      const char* name = op_name(op);
      elementwise::expect_dtype(ctx, name, "condition", a, DType::boolean);
      elementwise::expect_dtype(ctx, name, "first operand", b, out.dtype);
      elementwise::expect_dtype(ctx, name, "second operand", c, out.dtype);
      return elementwise::dispatch_dtype<DTypeSet::all>(out.dtype, ctx, name, [&]<typename T>() {
        elementwise::launch_elementwise<T, bool, T, T>(ctx, loop, {&out, &a, &b, &c}, ops::Where<T>(scalars));
      });
    }
    case TernaryOp::pow_backward_base:
      return elementwise::launch_same_dtype<ops::PowBackwardBase, DTypeSet::floating, 4>(
          ctx, op_name(op), loop, {&out, &a, &b, &c}, scalars);
    case TernaryOp::pow_backward_exponent:
      return elementwise::launch_same_dtype<ops::PowBackwardExponent, DTypeSet::floating, 4>(
          ctx, op_name(op), loop, {&out, &a, &b, &c}, scalars);
  }
  TESSERA_THROW(name_, ": ternary: unknown op ", static_cast<int>(op));
}

}  // namespace tessera::kernels::cuda
