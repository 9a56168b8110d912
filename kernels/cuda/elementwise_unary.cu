// CudaBackend::unary: one functor of kernels/elementwise_ops.h per op, launched through elementwise_loops.cuh.
//
// Invariants (why):
//  - Each op instantiates kernels only for the dtypes it takes (kernels/elementwise_args.h): numeric ops skip
//    bool, floating ops take f32/f64/bf16/f16. Every instantiation is three kernels, so this bounds compile time.
//  - copy (any dtype to any: 64 pairs) and logical_not live in elementwise_copy.cu, so neither file grows past
//    about a minute of nvcc on the 2-core CI.
//  - out and in share one dtype for every op here, as on the CPU; a mismatch throws before anything is queued.
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/elementwise_loops.cuh"

namespace tessera::kernels::cuda {

namespace {

using elementwise::DTypeSet;

template <template <typename> class Op, DTypeSet kSet>
void same_dtype(const elementwise::LaunchContext& ctx, UnaryOp op, const LoopShape& loop, const StridedArg& out,
                const StridedArg& in, const OpScalars& scalars) {
  elementwise::launch_same_dtype<Op, kSet, 2>(ctx, op_name(op), loop, {&out, &in}, scalars);
}

}  // namespace

void CudaBackend::unary(UnaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& in,
                        const OpScalars& scalars) {
  const elementwise::LaunchContext ctx{name_.c_str(), stream()};
  constexpr DTypeSet numeric = DTypeSet::numeric, floating = DTypeSet::floating;
  switch (op) {
    case UnaryOp::copy: return elementwise::copy_convert(ctx, loop, out, in);
    case UnaryOp::logical_not: return elementwise::logical_not(ctx, loop, out, in);
    case UnaryOp::neg: return same_dtype<ops::Neg, numeric>(ctx, op, loop, out, in, scalars);
    case UnaryOp::abs: return same_dtype<ops::Abs, numeric>(ctx, op, loop, out, in, scalars);
    case UnaryOp::relu: return same_dtype<ops::Relu, numeric>(ctx, op, loop, out, in, scalars);
    case UnaryOp::clamp: return same_dtype<ops::Clamp, numeric>(ctx, op, loop, out, in, scalars);
    case UnaryOp::pow_scalar: return same_dtype<ops::PowScalar, numeric>(ctx, op, loop, out, in, scalars);
    case UnaryOp::exp: return same_dtype<ops::Exp, floating>(ctx, op, loop, out, in, scalars);
    case UnaryOp::log: return same_dtype<ops::Log, floating>(ctx, op, loop, out, in, scalars);
    case UnaryOp::sqrt: return same_dtype<ops::Sqrt, floating>(ctx, op, loop, out, in, scalars);
    case UnaryOp::rsqrt: return same_dtype<ops::Rsqrt, floating>(ctx, op, loop, out, in, scalars);
    case UnaryOp::sigmoid: return same_dtype<ops::Sigmoid, floating>(ctx, op, loop, out, in, scalars);
    case UnaryOp::tanh: return same_dtype<ops::Tanh, floating>(ctx, op, loop, out, in, scalars);
    case UnaryOp::gelu: return same_dtype<ops::Gelu, floating>(ctx, op, loop, out, in, scalars);
    case UnaryOp::gelu_tanh: return same_dtype<ops::GeluTanh, floating>(ctx, op, loop, out, in, scalars);
    case UnaryOp::leaky_relu: return same_dtype<ops::LeakyRelu, floating>(ctx, op, loop, out, in, scalars);
    case UnaryOp::silu: return same_dtype<ops::Silu, floating>(ctx, op, loop, out, in, scalars);
  }
  TESSERA_THROW(name_, ": unary: unknown op ", static_cast<int>(op));
}

}  // namespace tessera::kernels::cuda
