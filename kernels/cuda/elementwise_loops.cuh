#pragma once
// Internal to kernels/cuda: the one launcher behind every elementwise entry (unary, binary, ternary, fill), the
// dtype sets the entries dispatch over, and the helpers the entry files share. The element math is never here:
// each launch applies a functor from kernels/elementwise_ops.h, built once on the host per call.
//
// Invariants (why):
//  - The loop is coalesced on the host first (adjacent dims merged where every operand's strides allow, size-1
//    dims dropped), so contiguous tensors reach the device as one dim and a broadcast row (a bias) as two: the
//    per-element index arithmetic is a division per remaining dim, and usually none.
//  - The strided kernel uses 32-bit indices whenever the element count and every operand's furthest offset fit
//    in int32: 64-bit integer division is several times slower on the GPU. Its grid-stride counter is unsigned,
//    so stepping past n < 2^31 by fewer than 2^31 threads cannot wrap.
//  - The outermost coalesced dim takes whatever index remains (no division), so a one-dim loop (a contiguous
//    but misaligned operand, or a broadcast scalar with stride 0) costs no division at all.
//  - The vectorised path loads and stores kVec elements per operand at once (16 bytes for the widest dtype of
//    the call); it runs only when every operand is contiguous and its pointer is aligned to its pack size,
//    because a misaligned vector access faults. The tail beyond the last whole pack runs element by element. It
//    indexes in int64 throughout: it divides nothing, so the width costs nothing there.
//  - Each element of the output is written by one thread, after that thread read the inputs at that element, so
//    an output that is exactly one of the inputs (in-place ops) is safe; partial overlaps are not (as on the CPU,
//    the front end never passes them).
//  - Functors are constructed on the host (their constructors read double scalars and std::numeric_limits) and
//    travel by value in the kernel parameters, like the geometry; nothing here allocates or synchronises.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "kernels/common/check.h"
#include "kernels/common/dtype.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/elementwise_args.h"
#include "kernels/elementwise_ops.h"

// `#pragma unroll` for the device pass only: the helpers below are host-device, and GCC warns about the pragma.
#if defined(__CUDA_ARCH__)
#define TESSERA_ELEMENTWISE_UNROLL _Pragma("unroll")
#else
#define TESSERA_ELEMENTWISE_UNROLL
#endif

namespace tessera::kernels::cuda::elementwise {

// What every launch needs from the calling entry: the backend's name for errors and the stream to queue on.
struct LaunchContext {
  const char* backend;
  cudaStream_t stream;
};

// ---------------------------------------------------------------------------------------------------------------
// dtype sets and operand checks

// Which dtypes an op takes (kernels/elementwise_args.h): dispatching over a set instantiates only its members.
enum class DTypeSet { all, numeric, floating };  // numeric: all but bool

// Calls f.template operator()<T>() with T the C++ type of `dtype`, or throws when the op does not take it.
template <DTypeSet kSet, typename F>
void dispatch_dtype(DType dtype, const LaunchContext& ctx, const char* op, F&& f) {
  constexpr bool kIntegers = kSet != DTypeSet::floating;
  switch (dtype) {
    case DType::f32: return f.template operator()<float>();
    case DType::f64: return f.template operator()<double>();
    case DType::bf16: return f.template operator()<bf16>();
    case DType::f16: return f.template operator()<f16>();
    case DType::i32: if constexpr (kIntegers) return f.template operator()<int32_t>(); break;
    case DType::i64: if constexpr (kIntegers) return f.template operator()<int64_t>(); break;
    case DType::u8: if constexpr (kIntegers) return f.template operator()<uint8_t>(); break;
    case DType::boolean: if constexpr (kSet == DTypeSet::all) return f.template operator()<bool>(); break;
  }
  TESSERA_THROW(ctx.backend, ": ", op, " does not take dtype ", dtype_name(dtype));
}

// Checks that an operand has the dtype the op's kernel is instantiated for; `role` names the operand.
inline void expect_dtype(const LaunchContext& ctx, const char* op, const char* role, const StridedArg& arg,
                         DType expected) {
  TESSERA_CHECK(arg.dtype == expected, ctx.backend, ": ", op, " does not take dtype ", dtype_name(arg.dtype),
                " for its ", role, " (expected ", dtype_name(expected), ")");
}

// ---------------------------------------------------------------------------------------------------------------
// coalescing (host)

// A loop's dims after coalescing, innermost first, with each operand's element strides. ndim >= 1.
template <int K>
struct CoalescedLoop {
  int ndim = 0;
  int64_t numel = 1;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims][K] = {};  // [dim][operand]
};

template <int K>
CoalescedLoop<K> coalesce(const LoopShape& loop, const std::array<const StridedArg*, K>& args) {
  CoalescedLoop<K> c;
  for (int d = loop.ndim - 1; d >= 0; --d) {  // innermost first
    const int64_t size = loop.sizes[d];
    c.numel *= size;
    if (size == 1) continue;
    if (c.ndim > 0) {
      // Dim d steps every operand exactly over one run of the kept dim inside it: one dim of both sizes' product.
      const int inner = c.ndim - 1;
      bool mergeable = true;
      for (int k = 0; k < K; ++k) mergeable = mergeable && args[k]->strides[d] == c.strides[inner][k] * c.sizes[inner];
      if (mergeable) {
        c.sizes[inner] *= size;
        continue;
      }
    }
    c.sizes[c.ndim] = size;
    for (int k = 0; k < K; ++k) c.strides[c.ndim][k] = args[k]->strides[d];
    ++c.ndim;
  }
  if (c.ndim == 0) {  // a single element (every dim 1, or none)
    c.ndim = 1;
    c.sizes[0] = 1;
  }
  return c;
}

template <int K>
bool is_contiguous(const CoalescedLoop<K>& c) {
  if (c.ndim != 1) return false;
  for (int k = 0; k < K; ++k) {
    if (c.strides[0][k] != 1) return false;
  }
  return true;
}

// Whether the element count and every offset the loop reaches fit in int32.
template <int K>
bool fits_int32(const CoalescedLoop<K>& c) {
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (c.numel > kMax) return false;
  for (int k = 0; k < K; ++k) {
    int64_t furthest = 0;
    for (int d = 0; d < c.ndim; ++d) {
      const int64_t stride = c.strides[d][k];
      furthest += (c.sizes[d] - 1) * (stride < 0 ? -stride : stride);
    }
    if (furthest > kMax) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// device side

// The coalesced loop as the strided kernel reads it: linear indices of type Index (uint32_t or uint64_t), element
// offsets of its signed twin. Passed by value (a few hundred bytes of kernel parameters).
template <int K, typename Index>
struct StridedGeometry {
  using Offset = std::make_signed_t<Index>;
  int ndim;
  Index sizes[kMaxDims];
  Offset strides[kMaxDims][K];
};

template <typename Index, int K>
StridedGeometry<K, Index> narrow_geometry(const CoalescedLoop<K>& c) {
  using Offset = typename StridedGeometry<K, Index>::Offset;
  StridedGeometry<K, Index> g{};
  g.ndim = c.ndim;
  for (int d = 0; d < c.ndim; ++d) {
    g.sizes[d] = static_cast<Index>(c.sizes[d]);
    for (int k = 0; k < K; ++k) g.strides[d][k] = static_cast<Offset>(c.strides[d][k]);
  }
  return g;
}

// Per-operand element offsets of linear index i. The loop is unrolled over kMaxDims with constant indices, so the
// geometry stays in the parameter bank instead of being copied to local memory for dynamic indexing.
template <int K, typename Index>
TESSERA_HD_INLINE void offsets_of(const StridedGeometry<K, Index>& g, Index i,
                                  typename StridedGeometry<K, Index>::Offset (&offsets)[K]) {
  using Offset = typename StridedGeometry<K, Index>::Offset;
  TESSERA_ELEMENTWISE_UNROLL
  for (int k = 0; k < K; ++k) offsets[k] = 0;
  TESSERA_ELEMENTWISE_UNROLL
  for (int d = 0; d < kMaxDims; ++d) {
    if (d == g.ndim - 1) {  // the outermost dim: its index is what remains
      TESSERA_ELEMENTWISE_UNROLL
      for (int k = 0; k < K; ++k) offsets[k] += static_cast<Offset>(i) * g.strides[d][k];
      break;
    }
    const Index rest = i / g.sizes[d];
    const Offset index = static_cast<Offset>(i - rest * g.sizes[d]);
    TESSERA_ELEMENTWISE_UNROLL
    for (int k = 0; k < K; ++k) offsets[k] += index * g.strides[d][k];
    i = rest;
  }
}

// kVec consecutive elements of one operand, loaded or stored as one access.
template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T values[N];
};

// The builtin type of a pack's size: accessed through it, a pack is one vector instruction (a struct copy of the
// Pack itself is split into per-element loads).
template <size_t kBytes> struct RawAccess;
template <> struct RawAccess<2> { using type = unsigned short; };
template <> struct RawAccess<4> { using type = unsigned int; };
template <> struct RawAccess<8> { using type = uint2; };
template <> struct RawAccess<16> { using type = uint4; };

template <typename T, int N>
TESSERA_HD_INLINE Pack<T, N> load_pack(const T* p) {
  using Raw = typename RawAccess<sizeof(Pack<T, N>)>::type;
  const Raw raw = *reinterpret_cast<const Raw*>(p);
  return bit_cast_value<Pack<T, N>>(raw);
}

template <typename T, int N>
TESSERA_HD_INLINE void store_pack(T* p, const Pack<T, N>& pack) {
  using Raw = typename RawAccess<sizeof(Pack<T, N>)>::type;
  *reinterpret_cast<Raw*>(p) = bit_cast_value<Raw>(pack);
}

// out = op(ins...) at an element: the operands' pointers and the functor. Op returns TOut (or converts to it).
template <typename Op, typename TOut, typename... TIns>
struct ElementwiseApply {
  static constexpr int kOperands = 1 + static_cast<int>(sizeof...(TIns));
  static constexpr size_t kElementSizes[kOperands] = {sizeof(TOut), sizeof(TIns)...};
  static constexpr int kVec = static_cast<int>(16 / std::max({sizeof(TOut), sizeof(TIns)...}));
  using Inputs = std::index_sequence_for<TIns...>;

  Op op;
  TOut* out;
  const void* ins[sizeof...(TIns) + 1];  // + 1: fill has no inputs

  template <typename Offset>
  TESSERA_HD_INLINE void at(const Offset (&offsets)[kOperands]) const {
    at_offsets(offsets, Inputs{});
  }
  // Every operand at element i (the contiguous tail).
  TESSERA_HD_INLINE void at_index(int64_t i) const { at_index(i, Inputs{}); }
  // Elements first .. first + kVec - 1 of every operand, each operand aligned to its pack.
  TESSERA_HD_INLINE void pack_at(int64_t first) const { pack_at(first, Inputs{}); }

 private:
  template <typename Offset, size_t... I>
  TESSERA_HD_INLINE void at_offsets(const Offset (&offsets)[kOperands], std::index_sequence<I...>) const {
    out[offsets[0]] = op(static_cast<const TIns*>(ins[I])[offsets[I + 1]]...);
  }
  template <size_t... I>
  TESSERA_HD_INLINE void at_index(int64_t i, std::index_sequence<I...>) const {
    out[i] = op(static_cast<const TIns*>(ins[I])[i]...);
  }
  template <size_t... I>
  TESSERA_HD_INLINE void pack_at(int64_t first, std::index_sequence<I...>) const {
    apply_packs(first, load_pack<TIns, kVec>(static_cast<const TIns*>(ins[I]) + first)...);
  }
  template <typename... InPacks>
  TESSERA_HD_INLINE void apply_packs(int64_t first, const InPacks&... in_packs) const {
    Pack<TOut, kVec> result;
    TESSERA_ELEMENTWISE_UNROLL
    for (int j = 0; j < kVec; ++j) result.values[j] = op(in_packs.values[j]...);
    store_pack(out + first, result);
  }
};

// One thread's share of a contiguous loop: packs first, first + step, ...; then the elements after the last whole
// pack. Host-device, like everything the kernels call, so the loop logic can be exercised without a GPU.
template <typename Apply>
TESSERA_HD_INLINE void contiguous_thread(const Apply& apply, int64_t n, int64_t first, int64_t step) {
  constexpr int kVec = Apply::kVec;
  const int64_t packs = n / kVec;
  for (int64_t p = first; p < packs; p += step) apply.pack_at(p * kVec);
  for (int64_t i = packs * kVec + first; i < n; i += step) apply.at_index(i);
}

// One thread's share of a strided loop: linear indices first, first + step, ... below n.
template <typename Index, typename Apply>
TESSERA_HD_INLINE void strided_thread(const StridedGeometry<Apply::kOperands, Index>& geometry, Index n,
                                      const Apply& apply, Index first, Index step) {
  using Offset = typename StridedGeometry<Apply::kOperands, Index>::Offset;
  for (Index i = first; i < n; i += step) {
    Offset offsets[Apply::kOperands];
    offsets_of(geometry, i, offsets);
    apply.at(offsets);
  }
}

template <typename Apply>
__global__ void __launch_bounds__(kBlockSize) contiguous_kernel(Apply apply, int64_t n) {
  contiguous_thread(apply, n, static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x,
                    static_cast<int64_t>(blockDim.x) * gridDim.x);
}

template <typename Index, typename Apply>
__global__ void __launch_bounds__(kBlockSize)
    strided_kernel(StridedGeometry<Apply::kOperands, Index> geometry, Index n, Apply apply) {
  strided_thread(geometry, n, apply, static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x,
                 static_cast<Index>(blockDim.x) * gridDim.x);
}

// ---------------------------------------------------------------------------------------------------------------
// the launcher

enum class LoopPath { packs, strided32, strided64 };

// Packs when every operand is contiguous and aligned to its pack; else the strided kernel, in 32-bit when it fits.
template <typename Apply>
LoopPath choose_path(const CoalescedLoop<Apply::kOperands>& c,
                     const std::array<const StridedArg*, Apply::kOperands>& args) {
  bool packs_aligned = is_contiguous(c);
  for (int k = 0; k < Apply::kOperands && packs_aligned; ++k) {
    const auto address = reinterpret_cast<uintptr_t>(args[k]->data);
    packs_aligned = address % (Apply::kElementSizes[k] * Apply::kVec) == 0;
  }
  if (packs_aligned) return LoopPath::packs;
  return fits_int32(c) ? LoopPath::strided32 : LoopPath::strided64;
}

// out = op(ins...) over `loop`: args[0] the output (dtype TOut), args[1 + j] input j (dtype TIns[j]). The caller
// has checked the dtypes. Queues one kernel on ctx.stream.
template <typename TOut, typename... TIns, typename Op>
void launch_elementwise(const LaunchContext& ctx, const LoopShape& loop,
                        const std::array<const StridedArg*, 1 + sizeof...(TIns)>& args, const Op& op) {
  using Apply = ElementwiseApply<Op, TOut, TIns...>;
  constexpr int K = Apply::kOperands;
  const CoalescedLoop<K> c = coalesce<K>(loop, args);
  if (c.numel == 0) return;

  Apply apply{op, static_cast<TOut*>(args[0]->data), {}};
  for (int k = 1; k < K; ++k) apply.ins[k - 1] = args[k]->data;

  switch (choose_path<Apply>(c, args)) {
    case LoopPath::packs: {
      const int64_t packs_and_tail = (c.numel + Apply::kVec - 1) / Apply::kVec;
      contiguous_kernel<Apply><<<grid_for(packs_and_tail), kBlockSize, 0, ctx.stream>>>(apply, c.numel);
      break;
    }
    case LoopPath::strided32:
      strided_kernel<uint32_t, Apply><<<grid_for(c.numel), kBlockSize, 0, ctx.stream>>>(
          narrow_geometry<uint32_t>(c), static_cast<uint32_t>(c.numel), apply);
      break;
    case LoopPath::strided64:
      strided_kernel<uint64_t, Apply><<<grid_for(c.numel), kBlockSize, 0, ctx.stream>>>(
          narrow_geometry<uint64_t>(c), static_cast<uint64_t>(c.numel), apply);
      break;
  }
  TESSERA_CUDA_CHECK_LAUNCH("elementwise");
}

// T, once per index of a pack (for launching K operands of one dtype).
template <typename T, size_t> struct Repeated { using type = T; };

// An op whose operands all share one dtype T from kSet: checks args[1..] against the output's dtype, then
// launches Op<T>(scalars). `op_label` names the op in errors.
template <template <typename> class Op, DTypeSet kSet, size_t K>
void launch_same_dtype(const LaunchContext& ctx, const char* op_label, const LoopShape& loop,
                       const std::array<const StridedArg*, K>& args, const OpScalars& scalars) {
  static constexpr const char* kRoles[] = {"output", "first operand", "second operand", "third operand"};
  static_assert(K <= std::size(kRoles));
  for (size_t k = 1; k < K; ++k) expect_dtype(ctx, op_label, kRoles[k], *args[k], args[0]->dtype);
  dispatch_dtype<kSet>(args[0]->dtype, ctx, op_label, [&]<typename T>() {
    [&]<size_t... I>(std::index_sequence<I...>) {
      launch_elementwise<T, typename Repeated<T, I>::type...>(ctx, loop, args, Op<T>(scalars));
    }(std::make_index_sequence<K - 1>{});
  });
}

// A value computed once on the host, stored at every element (fill).
template <typename T>
struct Constant {
  T value;
  TESSERA_HD_INLINE T operator()() const { return value; }
};

// ---------------------------------------------------------------------------------------------------------------
// entries split over files (each defined in the file named)

// UnaryOp::copy (any dtype to any) and logical_not: elementwise_copy.cu.
void copy_convert(const LaunchContext& ctx, const LoopShape& loop, const StridedArg& out, const StridedArg& in);
void logical_not(const LaunchContext& ctx, const LoopShape& loop, const StridedArg& out, const StridedArg& in);
// eq ... ge: elementwise_compare.cu.
void compare(const LaunchContext& ctx, BinaryOp op, const LoopShape& loop, const StridedArg& out,
             const StridedArg& a, const StridedArg& b);
// The *_backward binary ops: elementwise_backward.cu.
void binary_backward(const LaunchContext& ctx, BinaryOp op, const LoopShape& loop, const StridedArg& out,
                     const StridedArg& grad, const StridedArg& saved, const OpScalars& scalars);

}  // namespace tessera::kernels::cuda::elementwise
