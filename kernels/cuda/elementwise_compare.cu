// The comparisons of CudaBackend::binary (eq, ne, lt, le, gt, ge): a and b of one dtype, out bool.
//
// Invariants (why):
//  - Every dtype compares (8 dtypes x 6 ops), so they get a file of their own to keep each nvcc run short.
//  - Operands compare in acc_t<T> through the functors of kernels/elementwise_ops.h, exactly as on the CPU.
#include "kernels/cuda/elementwise_loops.cuh"

namespace tessera::kernels::cuda::elementwise {

namespace {

template <template <typename> class Op>
void compare_as(const LaunchContext& ctx, BinaryOp op, const LoopShape& loop, const StridedArg& out,
                const StridedArg& a, const StridedArg& b) {
  dispatch_dtype<DTypeSet::all>(a.dtype, ctx, op_name(op), [&]<typename T>() {
    launch_elementwise<bool, T, T>(ctx, loop, {&out, &a, &b}, Op<T>(OpScalars{}));
  });
}

}  // namespace

void compare(const LaunchContext& ctx, BinaryOp op, const LoopShape& loop, const StridedArg& out,
             const StridedArg& a, const StridedArg& b) {
  expect_dtype(ctx, op_name(op), "output", out, DType::boolean);
  expect_dtype(ctx, op_name(op), "second operand", b, a.dtype);
  switch (op) {
    case BinaryOp::eq: return compare_as<ops::Eq>(ctx, op, loop, out, a, b);
    case BinaryOp::ne: return compare_as<ops::Ne>(ctx, op, loop, out, a, b);
    case BinaryOp::lt: return compare_as<ops::Lt>(ctx, op, loop, out, a, b);
    case BinaryOp::le: return compare_as<ops::Le>(ctx, op, loop, out, a, b);
    case BinaryOp::gt: return compare_as<ops::Gt>(ctx, op, loop, out, a, b);
    case BinaryOp::ge: return compare_as<ops::Ge>(ctx, op, loop, out, a, b);
    default: TESSERA_THROW(ctx.backend, ": ", op_name(op), " is not a comparison");
  }
}

}  // namespace tessera::kernels::cuda::elementwise
