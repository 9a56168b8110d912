// The gradient ops of CpuBackend::binary: (incoming gradient, saved tensor) -> input gradient, floating dtypes.
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/elementwise_loops.h"
#include "kernels/elementwise_ops.h"

namespace tessera::kernels::cpu {

namespace {
template <template <typename> class Op>
void gradient(BinaryOp op, const StridedOperands<3>& ops, const StridedArg& out, const OpScalars& s) {
  dispatch_floating(out.dtype, op_name(op), [&]<typename T>() { binary_loop<T, T, T>(ops, Op<T>(s)); });
}
}  // namespace

void binary_backward(BinaryOp op, const StridedOperands<3>& o, const StridedArg& out, const StridedArg& a,
                     const StridedArg& b, const OpScalars& s) {
  expect_dtype(a, out.dtype, op_name(op), "gradient");
  expect_dtype(b, out.dtype, op_name(op), "saved tensor");
  switch (op) {
    case BinaryOp::relu_backward: return gradient<ops::ReluBackward>(op, o, out, s);
    case BinaryOp::sigmoid_backward: return gradient<ops::SigmoidBackward>(op, o, out, s);
    case BinaryOp::tanh_backward: return gradient<ops::TanhBackward>(op, o, out, s);
    case BinaryOp::sqrt_backward: return gradient<ops::SqrtBackward>(op, o, out, s);
    case BinaryOp::rsqrt_backward: return gradient<ops::RsqrtBackward>(op, o, out, s);
    case BinaryOp::abs_backward: return gradient<ops::AbsBackward>(op, o, out, s);
    case BinaryOp::clamp_backward: return gradient<ops::ClampBackward>(op, o, out, s);
    case BinaryOp::gelu_backward: return gradient<ops::GeluBackward>(op, o, out, s);
    case BinaryOp::gelu_tanh_backward: return gradient<ops::GeluTanhBackward>(op, o, out, s);
    case BinaryOp::leaky_relu_backward: return gradient<ops::LeakyReluBackward>(op, o, out, s);
    case BinaryOp::pow_scalar_backward: return gradient<ops::PowScalarBackward>(op, o, out, s);
    case BinaryOp::silu_backward: return gradient<ops::SiluBackward>(op, o, out, s);
    default: TESSERA_THROW("binary: unknown op ", static_cast<int>(op));
  }
}

}  // namespace tessera::kernels::cpu
