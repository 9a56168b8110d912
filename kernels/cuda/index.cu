// CudaBackend's indexing entries (the CPU's kernels/cpu/index.cpp): index_select and its backward (embedding),
// gather, scatter_add, one_hot, and the device half of index checks. Invariants:
//  - the host never reads an index: each kernel checks its own (kernels/index_args.h). A bad index at flat
//    position p atomicMins p into the entry's IndexErrorSlot and its access is skipped; report_bad_index then
//    copies the index found at the smallest such p, and the next host sync raises the CPU's error for it. The
//    other, good indices are still applied (the CPU applies none), which is harmless: the error is raised first;
//  - index_select_backward takes no bounds (its forward checked them), but the error of a bad forward index is
//    only raised at a later sync, so it still skips out-of-range rows rather than write out of bounds;
//  - copies (index_select, gather) move raw elements of any dtype as unsigned words of the element's size
//    (index_select: of the widest size that divides the row and both addresses);
//  - accumulation with repeated indices (scatter_add, index_select_backward) is atomic: hardware atomicAdd for
//    f32, f64, i32 and i64 (i64 as unsigned 64-bit: two's-complement wrap, as the CPU), compare-and-swap loops for
//    bf16/f16 (rounding as the CPU: T(float(old) + float(value))) and u8 (in its aligned 32-bit word). The order of
//    float additions is not fixed, so floating results may differ from the CPU's (and between runs) in the last
//    bits; integer results are exact;
//  - gather/scatter_add walk the index's shape, coalesced on the host (size-1 dims dropped, dims merged where
//    both strided operands allow), which keeps row-major order, so the flat position is the index buffer's offset.
#include <algorithm>
#include <type_traits>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace tessera::kernels::cuda {

namespace {

// Whether v is in [0, size); if not, records position p as a bad one.
__device__ __forceinline__ bool index_ok(int64_t v, int64_t size, int64_t p, IndexErrorSlot* slot) {
  if (static_cast<uint64_t>(v) < static_cast<uint64_t>(size)) return true;
  atomicMin(&slot->position, static_cast<unsigned long long>(p));
  return false;
}

__global__ void report_bad_index_kernel(IndexErrorSlot* slot, const int64_t* index) {
  if (slot->position != kNoBadIndex) slot->value = index[slot->position];
}

// Only checks (for an entry with indices but nothing to move).
__global__ void check_indices_kernel(const int64_t* index, int64_t n, int64_t size, IndexErrorSlot* slot) {
  TESSERA_GRID_STRIDE_LOOP(p, n) index_ok(index[p], size, p, slot);
}

// The unsigned type of `bytes` bytes.
template <int kBytes> struct Word;
template <> struct Word<1> { using type = uint8_t; };
template <> struct Word<2> { using type = uint16_t; };
template <> struct Word<4> { using type = uint32_t; };
template <> struct Word<8> { using type = uint64_t; };
template <> struct Word<16> { using type = uint4; };

// Calls f.template operator()<W>() with W the word type of `bytes` (1, 2, 4, 8 or 16).
template <typename F>
void dispatch_word(size_t bytes, F&& f) {
  switch (bytes) {
    case 1: return f.template operator()<Word<1>::type>();
    case 2: return f.template operator()<Word<2>::type>();
    case 4: return f.template operator()<Word<4>::type>();
    case 8: return f.template operator()<Word<8>::type>();
    case 16: return f.template operator()<Word<16>::type>();
  }
  TESSERA_THROW("index: unexpected element size ", bytes);
}

// dst += value as the CPU (T(acc(dst) + acc(value))), atomically.
template <typename T>
__device__ __forceinline__ void atomic_accumulate(T* dst, T value) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int32_t>) {
    atomicAdd(dst, value);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(dst), static_cast<unsigned long long>(value));
  } else if constexpr (std::is_same_v<T, bf16> || std::is_same_v<T, f16>) {
    auto* word = reinterpret_cast<unsigned short*>(dst);
    unsigned short old = *word, assumed;
    do {
      assumed = old;
      T current;
      current.bits = assumed;
      const T next(static_cast<float>(current) + static_cast<float>(value));
      old = atomicCAS(word, assumed, static_cast<unsigned short>(next.bits));
    } while (old != assumed);
  } else {
    static_assert(std::is_same_v<T, uint8_t>, "scatter_add: no atomic accumulation for this type");
    const uintptr_t address = reinterpret_cast<uintptr_t>(dst);
    auto* word = reinterpret_cast<unsigned int*>(address & ~uintptr_t{3});
    const unsigned shift = static_cast<unsigned>(address & 3) * 8;
    unsigned int old = *word, assumed;
    do {
      assumed = old;
      const auto next = static_cast<uint8_t>(static_cast<uint8_t>(assumed >> shift) + value);
      old = atomicCAS(word, assumed, (assumed & ~(0xffu << shift)) | (static_cast<unsigned int>(next) << shift));
    } while (old != assumed);
  }
}

// ---- index_select: out (outer, count, row_words) = rows index[j] of x (outer, size, row_words)

template <typename W>
__global__ void index_select_kernel(W* out, const W* x, const int64_t* index, RowLayout x_rows, int64_t count,
                                    int64_t bound, IndexErrorSlot* slot) {
  const int64_t words = x_rows.inner;
  const int64_t n = x_rows.outer * count * words;
  TESSERA_GRID_STRIDE_LOOP(i, n) {
    const int64_t r = i / words, w = i - r * words;
    const int64_t o = r / count, j = r - o * count;
    const int64_t v = index[j];
    if (index_ok(v, bound, j, slot)) out[i] = x[(o * x_rows.size + v) * words + w];
  }
}

// ---- index_select backward: grad_x (outer, size, inner) += grad_out (outer, count, inner) at rows index[j]

template <typename T>
__global__ void index_add_rows_kernel(T* grad_x, const T* grad_out, const int64_t* index, RowLayout x_rows,
                                      int64_t count, int64_t skip) {
  const int64_t inner = x_rows.inner;
  const int64_t n = x_rows.outer * count * inner;
  TESSERA_GRID_STRIDE_LOOP(i, n) {
    const int64_t r = i / inner, e = i - r * inner;
    const int64_t o = r / count, j = r - o * count;
    const int64_t v = index[j];
    if (v == skip || static_cast<uint64_t>(v) >= static_cast<uint64_t>(x_rows.size)) continue;
    atomic_accumulate(grad_x + (o * x_rows.size + v) * inner + e, grad_out[i]);
  }
}

// ---- gather / scatter_add over the index's shape

// The index's shape after coalescing, with the element strides of the two strided operands: [0] out, [1] src.
struct IndexedLoop {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[2][kMaxDims] = {};
};

IndexedLoop coalesce(const LoopShape& loop, const StridedArg& out, const StridedArg& src) {
  IndexedLoop l;
  for (int d = 0; d < loop.ndim; ++d) {
    const int64_t size = loop.sizes[d];
    if (size == 1) continue;
    const int64_t s0 = out.strides[d], s1 = src.strides[d];
    if (l.ndim > 0 && l.strides[0][l.ndim - 1] == s0 * size && l.strides[1][l.ndim - 1] == s1 * size) {
      int k = l.ndim - 1;  // merge into the outer dim: the index is contiguous, so it always merges
      l.sizes[k] *= size;
      l.strides[0][k] = s0;
      l.strides[1][k] = s1;
    } else {
      l.sizes[l.ndim] = size;
      l.strides[0][l.ndim] = s0;
      l.strides[1][l.ndim] = s1;
      ++l.ndim;
    }
  }
  return l;
}

int64_t numel_of(const LoopShape& loop) {
  int64_t n = 1;
  for (int d = 0; d < loop.ndim; ++d) n *= loop.sizes[d];
  return n;
}

// The element offsets of out and src at flat position p (row-major over l).
__device__ __forceinline__ void offsets_at(const IndexedLoop& l, int64_t p, int64_t& out_at, int64_t& src_at) {
  out_at = 0;
  src_at = 0;
  for (int d = l.ndim - 1; d >= 0; --d) {
    const int64_t size = l.sizes[d];
    const int64_t q = p / size, c = p - q * size;
    out_at += c * l.strides[0][d];
    src_at += c * l.strides[1][d];
    p = q;
  }
}

struct IndexedArgs {
  const int64_t* index;
  int64_t n;           // positions
  int64_t size;        // valid indices are [0, size)
  int64_t dim_stride;  // elements, of the indexed operand
  IndexErrorSlot* slot;
};

// out[p] = src[p, dim <- index[p]], elements moved as words W of the element's size.
template <typename W>
__global__ void gather_kernel(W* out, const W* src, IndexedLoop l, IndexedArgs a) {
  TESSERA_GRID_STRIDE_LOOP(p, a.n) {
    const int64_t v = a.index[p];
    if (!index_ok(v, a.size, p, a.slot)) continue;
    int64_t out_at, src_at;
    offsets_at(l, p, out_at, src_at);
    out[out_at] = src[src_at + v * a.dim_stride];
  }
}

// out[p, dim <- index[p]] += src[p].
template <typename T>
__global__ void scatter_add_kernel(T* out, const T* src, IndexedLoop l, IndexedArgs a) {
  TESSERA_GRID_STRIDE_LOOP(p, a.n) {
    const int64_t v = a.index[p];
    if (!index_ok(v, a.size, p, a.slot)) continue;
    int64_t out_at, src_at;
    offsets_at(l, p, out_at, src_at);
    atomic_accumulate(out + out_at + v * a.dim_stride, src[src_at]);
  }
}

__global__ void one_hot_kernel(int64_t* out, const int64_t* index, int64_t n, int64_t size, IndexErrorSlot* slot) {
  TESSERA_GRID_STRIDE_LOOP(i, n) {
    const int64_t v = index[i];
    if (index_ok(v, size, i, slot)) out[i * size + v] = 1;
  }
}

void expect_same_dtype(const StridedArg& arg, DType dtype, const char* op, const char* role) {
  TESSERA_CHECK(arg.dtype == dtype, op, ": ", role, " is ", dtype_name(arg.dtype), ", expected ", dtype_name(dtype));
}

// The widest word (16, 8, 4, 2 or 1 bytes) dividing row_bytes and both addresses.
size_t row_word_bytes(int64_t row_bytes, const void* a, const void* b) {
  const uintptr_t bits = static_cast<uintptr_t>(row_bytes) | reinterpret_cast<uintptr_t>(a) |
                         reinterpret_cast<uintptr_t>(b);
  size_t word = 16;
  while (word > 1 && (bits & (word - 1)) != 0) word /= 2;
  return word;
}

}  // namespace

void CudaBackend::report_bad_index(IndexErrorSlot* slot, const int64_t* index, cudaStream_t stream) {
  report_bad_index_kernel<<<1, 1, 0, stream>>>(slot, index);
  TESSERA_CUDA_CHECK_LAUNCH(report_bad_index_kernel);
}

void CudaBackend::index_select(DType dtype, const RowLayout& x_layout, void* out, const void* x, const void* index,
                               int64_t count, const IndexBounds& bounds) {
  if (count == 0) return;
  const auto* idx = static_cast<const int64_t*>(index);
  IndexErrorSlot* slot = begin_index_check(bounds);
  const int64_t row_bytes = x_layout.inner * static_cast<int64_t>(element_size(dtype));
  if (row_bytes == 0 || x_layout.outer == 0) {
    check_indices_kernel<<<grid_for(count), kBlockSize, 0, stream()>>>(idx, count, bounds.size, slot);
    TESSERA_CUDA_CHECK_LAUNCH(check_indices_kernel);
  } else {
    const size_t word = row_word_bytes(row_bytes, out, x);
    RowLayout rows = x_layout;
    rows.inner = row_bytes / static_cast<int64_t>(word);
    dispatch_word(word, [&]<typename W>() {
      index_select_kernel<W><<<grid_for(rows.outer * count * rows.inner), kBlockSize, 0, stream()>>>(
          static_cast<W*>(out), static_cast<const W*>(x), idx, rows, count, bounds.size, slot);
      TESSERA_CUDA_CHECK_LAUNCH(index_select_kernel);
    });
  }
  report_bad_index(slot, idx, stream());
}

void CudaBackend::index_select_backward(DType dtype, const RowLayout& x_layout, void* grad_x, const void* grad_out,
                                        const void* index, int64_t count, int64_t skip) {
  dispatch_floating(dtype, "index_select backward", [&]<typename T>() {
    const int64_t n = x_layout.outer * count * x_layout.inner;
    if (n == 0) return;
    index_add_rows_kernel<T><<<grid_for(n), kBlockSize, 0, stream()>>>(
        static_cast<T*>(grad_x), static_cast<const T*>(grad_out), static_cast<const int64_t*>(index), x_layout,
        count, skip);
    TESSERA_CUDA_CHECK_LAUNCH(index_add_rows_kernel);
  });
}

void CudaBackend::gather(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
                         int64_t dim_stride, const IndexBounds& bounds) {
  expect_same_dtype(out, src.dtype, "gather", "output");
  const int64_t n = numel_of(loop);
  if (n == 0) return;
  const auto* idx = static_cast<const int64_t*>(index);
  const IndexedArgs args{idx, n, bounds.size, dim_stride, begin_index_check(bounds)};
  const IndexedLoop l = coalesce(loop, out, src);
  dispatch_word(element_size(src.dtype), [&]<typename W>() {
    gather_kernel<W><<<grid_for(n), kBlockSize, 0, stream()>>>(static_cast<W*>(out.data),
                                                               static_cast<const W*>(src.data), l, args);
    TESSERA_CUDA_CHECK_LAUNCH(gather_kernel);
  });
  report_bad_index(args.slot, idx, stream());
}

void CudaBackend::scatter_add(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
                              int64_t dim_stride, const IndexBounds& bounds) {
  expect_same_dtype(src, out.dtype, "scatter_add", "src");
  dispatch_numeric(out.dtype, "scatter_add", [&]<typename T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      const int64_t n = numel_of(loop);
      if (n == 0) return;
      const auto* idx = static_cast<const int64_t*>(index);
      const IndexedArgs args{idx, n, bounds.size, dim_stride, begin_index_check(bounds)};
      scatter_add_kernel<T><<<grid_for(n), kBlockSize, 0, stream()>>>(
          static_cast<T*>(out.data), static_cast<const T*>(src.data), coalesce(loop, out, src), args);
      TESSERA_CUDA_CHECK_LAUNCH(scatter_add_kernel);
      report_bad_index(args.slot, idx, stream());
    }
  });
}

void CudaBackend::one_hot(void* out, const void* index, int64_t n, const IndexBounds& bounds) {
  if (n == 0) return;
  const auto* idx = static_cast<const int64_t*>(index);
  IndexErrorSlot* slot = begin_index_check(bounds);
  one_hot_kernel<<<grid_for(n), kBlockSize, 0, stream()>>>(static_cast<int64_t*>(out), idx, n, bounds.size, slot);
  TESSERA_CUDA_CHECK_LAUNCH(one_hot_kernel);
  report_bad_index(slot, idx, stream());
}

}  // namespace tessera::kernels::cuda
