// CpuBackend's indexing entries: index_select (and embedding) rows, gather, scatter_add, one_hot. Invariants:
//  - every entry that reads indices checks all of them first, serially, so the parallel loops never see a bad
//    index and never throw;
//  - index_select moves whole rows of the (outer, size, inner) layout with memcpy (any dtype); its backward adds
//    gradient rows into grad_x, split over inner columns so threads never collide;
//  - gather/scatter_add walk the index's shape with per-operand strides (operands may be non-contiguous);
//    scatter_add runs serially because two index entries may target the same element.
#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels/common/check.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/elementwise_loops.h"
#include "kernels/cpu/index_check.h"
#include "kernels/cpu/parallel.h"

namespace tessera::kernels::cpu {

namespace {

int64_t loop_numel(const LoopShape& loop) {
  int64_t n = 1;
  for (int d = 0; d < loop.ndim; ++d) n *= loop.sizes[d];
  return n;
}

// The contiguous i64 index as an operand over `loop`.
StridedArg contiguous_index(const LoopShape& loop, const void* index) {
  StridedArg arg;
  arg.data = const_cast<void*>(index);
  arg.dtype = DType::i64;
  int64_t stride = 1;
  for (int d = loop.ndim; d-- > 0;) {
    arg.strides[d] = stride;
    stride *= loop.sizes[d];
  }
  return arg;
}

// grad_x (outer, size, inner) += g (outer, k, inner) at rows idx[j], skipping rows equal to `skip`.
template <typename T>
void add_rows_backward(T* gx, const T* g, const RowLayout& layout, const int64_t* idx, int64_t k, int64_t skip) {
  using A = acc_t<T>;
  const int64_t work_per_column = std::max<int64_t>(1, layout.outer * k);
  parallel_for(layout.inner, std::max<int64_t>(64, 32768 / work_per_column), [&](int64_t begin, int64_t end) {
    for (int64_t o = 0; o < layout.outer; ++o) {
      for (int64_t j = 0; j < k; ++j) {
        if (idx[j] == skip) continue;
        T* dst = gx + (o * layout.size + idx[j]) * layout.inner;
        const T* src = g + (o * k + j) * layout.inner;
        for (int64_t i = begin; i < end; ++i) dst[i] = T(A(dst[i]) + A(src[i]));
      }
    }
  });
}

}  // namespace

void CpuBackend::index_select(DType dtype, const RowLayout& layout, void* out, const void* x, const void* index,
                              int64_t k, const IndexBounds& bounds) {
  const int64_t* ip = host(static_cast<const int64_t*>(index));
  check_indices(ip, k, bounds);
  const int64_t row_bytes = layout.inner * static_cast<int64_t>(element_size(dtype));
  if (row_bytes == 0 || k == 0) return;
  const char* src = host(static_cast<const char*>(x));
  char* dst = host(static_cast<char*>(out));
  parallel_for(layout.outer * k, std::max<int64_t>(1, 65536 / row_bytes), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t o = r / k, j = r % k;
      std::memcpy(dst + r * row_bytes, src + (o * layout.size + ip[j]) * row_bytes, static_cast<size_t>(row_bytes));
    }
  });
}

void CpuBackend::index_select_backward(DType dtype, const RowLayout& layout, void* grad_x, const void* grad_out,
                                       const void* index, int64_t k, int64_t skip) {
  dispatch_floating(dtype, "index_select backward", [&]<typename T>() {
    add_rows_backward<T>(host(static_cast<T*>(grad_x)), host(static_cast<const T*>(grad_out)), layout,
                         host(static_cast<const int64_t*>(index)), k, skip);
  });
}

void CpuBackend::gather(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
                        int64_t dim_stride, const IndexBounds& bounds) {
  check_indices(host(static_cast<const int64_t*>(index)), loop_numel(loop), bounds);
  expect_dtype(out, src.dtype, "gather", "output");
  const StridedArg idx = contiguous_index(loop, index);
  const StridedOperands<3> ops = strided_operands<3>(loop, {&out, &idx, &src}, host_offset_);
  const int64_t step = dim_stride * static_cast<int64_t>(element_size(src.dtype));
  dispatch_all(src.dtype, "gather", [&]<typename T>() {
    strided_for_each<3>(ops, [&](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) =
            *reinterpret_cast<const T*>(p[2] + i * s[2] + *reinterpret_cast<const int64_t*>(p[1] + i * s[1]) * step);
    });
  });
}

void CpuBackend::scatter_add(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
                             int64_t dim_stride, const IndexBounds& bounds) {
  check_indices(host(static_cast<const int64_t*>(index)), loop_numel(loop), bounds);
  expect_dtype(src, out.dtype, "scatter_add", "src");
  const StridedArg idx = contiguous_index(loop, index);
  const StridedOperands<3> ops = strided_operands<3>(loop, {&out, &idx, &src}, host_offset_);
  const int64_t step = dim_stride * static_cast<int64_t>(element_size(out.dtype));
  dispatch_numeric(out.dtype, "scatter_add", [&]<typename T>() {
    using A = acc_t<T>;
    strided_for_each<3>(
        ops,
        [&](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
          for (int64_t i = 0; i < n; ++i) {
            T& o = *reinterpret_cast<T*>(p[0] + i * s[0] + *reinterpret_cast<const int64_t*>(p[1] + i * s[1]) * step);
            using W = wrapping_t<A>;  // integers wrap, as PyTorch's
            o = T(A(W(A(o)) + W(A(*reinterpret_cast<const T*>(p[2] + i * s[2])))));
          }
        },
        std::numeric_limits<int64_t>::max());
  });
}

void CpuBackend::one_hot(void* out, const void* index, int64_t n, const IndexBounds& bounds) {
  const int64_t* p = host(static_cast<const int64_t*>(index));
  check_indices(p, n, bounds);
  int64_t* o = host(static_cast<int64_t*>(out));
  for (int64_t i = 0; i < n; ++i) o[i * bounds.size + p[i]] = 1;
}

}  // namespace tessera::kernels::cpu
