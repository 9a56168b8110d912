// UnaryOp::copy (dtype conversion) and logical_not for CudaBackend::unary, and CudaBackend::fill and arange.
//
// Invariants (why):
//  - copy converts any dtype to any (8 x 8 pairs) with ops::convert, the CPU's own conversion, so a GPU copy
//    rounds as the CPU does (bf16/f16 conversions are bit-exact software in kernels/common/dtype.h).
//  - fill converts its value on the host with ops::from_double, as the CPU does, and stores that one value: the
//    device never sees the double, so no device rounding can differ.
//  - arange computes start + i * step in double per element, as one fused multiply-add: the CPU build
//    (-march=x86-64-v3, GCC's default -ffp-contract=fast) compiles its loop to vfmadd, so fma(i, step, start) is
//    what makes f32/f64 results bitwise equal to it. It is written as __fma_rn so no nvcc flag can change it.
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/elementwise_loops.cuh"

namespace tessera::kernels::cuda {

namespace elementwise {

namespace {

template <typename TOut, typename TIn>
struct Convert {
  TESSERA_HD_INLINE TOut operator()(TIn value) const { return ops::convert<TOut>(value); }
};

template <typename T>
__global__ void __launch_bounds__(kBlockSize) arange_kernel(T* out, int64_t n, double start, double step) {
  TESSERA_GRID_STRIDE_LOOP(i, n) out[i] = ops::from_double<T>(__fma_rn(static_cast<double>(i), step, start));
}

}  // namespace

void copy_convert(const LaunchContext& ctx, const LoopShape& loop, const StridedArg& out, const StridedArg& in) {
  dispatch_dtype<DTypeSet::all>(out.dtype, ctx, "copy", [&]<typename TOut>() {
    dispatch_dtype<DTypeSet::all>(in.dtype, ctx, "copy", [&]<typename TIn>() {
      launch_elementwise<TOut, TIn>(ctx, loop, {&out, &in}, Convert<TOut, TIn>{});
    });
  });
}

void logical_not(const LaunchContext& ctx, const LoopShape& loop, const StridedArg& out, const StridedArg& in) {
  const char* name = op_name(UnaryOp::logical_not);
  expect_dtype(ctx, name, "output", out, DType::boolean);
  dispatch_dtype<DTypeSet::all>(in.dtype, ctx, name, [&]<typename T>() {
    launch_elementwise<bool, T>(ctx, loop, {&out, &in}, ops::LogicalNot<T>(OpScalars{}));
  });
}

}  // namespace elementwise

void CudaBackend::fill(const LoopShape& loop, const StridedArg& out, double value) {
  const elementwise::LaunchContext ctx{name_.c_str(), stream()};
  elementwise::dispatch_dtype<elementwise::DTypeSet::all>(out.dtype, ctx, "fill", [&]<typename T>() {
    elementwise::launch_elementwise<T>(ctx, loop, {&out}, elementwise::Constant<T>{ops::from_double<T>(value)});
  });
}

void CudaBackend::arange(void* out, DType dtype, int64_t n, double start, double step) {
  const elementwise::LaunchContext ctx{name_.c_str(), stream()};
  elementwise::dispatch_dtype<elementwise::DTypeSet::numeric>(dtype, ctx, "arange", [&]<typename T>() {
    if (n <= 0) return;
    elementwise::arange_kernel<T><<<grid_for(n), kBlockSize, 0, ctx.stream>>>(static_cast<T*>(out), n, start, step);
    TESSERA_CUDA_CHECK_LAUNCH("arange");
  });
}

}  // namespace tessera::kernels::cuda
