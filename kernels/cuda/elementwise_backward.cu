// The gradient ops of CudaBackend::binary: (incoming gradient, saved tensor) -> input gradient.
//
// Invariants (why):
//  - Gradients exist for floating dtypes only, so each op instantiates f32, f64, bf16 and f16 and nothing else.
//  - out, the gradient and the saved tensor share one dtype, checked before anything is queued, as on the CPU.
#include "kernels/cuda/elementwise_loops.cuh"

namespace tessera::kernels::cuda::elementwise {

namespace {

template <template <typename> class Op>
void gradient(const LaunchContext& ctx, BinaryOp op, const LoopShape& loop, const StridedArg& out,
              const StridedArg& grad, const StridedArg& saved, const OpScalars& scalars) {
  launch_same_dtype<Op, DTypeSet::floating, 3>(ctx, op_name(op), loop, {&out, &grad, &saved}, scalars);
}

}  // namespace

void binary_backward(const LaunchContext& ctx, BinaryOp op, const LoopShape& loop, const StridedArg& out,
                     const StridedArg& grad, const StridedArg& saved, const OpScalars& scalars) {
  switch (op) {
    case BinaryOp::relu_backward: return gradient<ops::ReluBackward>(ctx, op, loop, out, grad, saved, scalars);
    case BinaryOp::sigmoid_backward: return gradient<ops::SigmoidBackward>(ctx, op, loop, out, grad, saved, scalars);
    case BinaryOp::tanh_backward: return gradient<ops::TanhBackward>(ctx, op, loop, out, grad, saved, scalars);
    case BinaryOp::sqrt_backward: return gradient<ops::SqrtBackward>(ctx, op, loop, out, grad, saved, scalars);
    case BinaryOp::rsqrt_backward: return gradient<ops::RsqrtBackward>(ctx, op, loop, out, grad, saved, scalars);
    case BinaryOp::abs_backward: return gradient<ops::AbsBackward>(ctx, op, loop, out, grad, saved, scalars);
    case BinaryOp::clamp_backward: return gradient<ops::ClampBackward>(ctx, op, loop, out, grad, saved, scalars);
    case BinaryOp::gelu_backward: return gradient<ops::GeluBackward>(ctx, op, loop, out, grad, saved, scalars);
    case BinaryOp::gelu_tanh_backward:
      return gradient<ops::GeluTanhBackward>(ctx, op, loop, out, grad, saved, scalars);
    case BinaryOp::leaky_relu_backward:
      return gradient<ops::LeakyReluBackward>(ctx, op, loop, out, grad, saved, scalars);
    case BinaryOp::pow_scalar_backward:
      return gradient<ops::PowScalarBackward>(ctx, op, loop, out, grad, saved, scalars);
    case BinaryOp::silu_backward: return gradient<ops::SiluBackward>(ctx, op, loop, out, grad, saved, scalars);
    default: TESSERA_THROW(ctx.backend, ": binary: unknown op ", static_cast<int>(op));
  }
}

}  // namespace tessera::kernels::cuda::elementwise
