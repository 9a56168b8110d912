// Indexing ops: index_select, embedding, gather, scatter_add, one_hot. Invariants:
//  - indices are validated (index_util.h) before any kernel runs, so kernels never throw inside a parallel region
//    and never read out of bounds;
//  - index_select/embedding move whole rows of the (outer, size, inner) layout with memcpy (any dtype); their
//    backward adds gradient rows into a fresh zero tensor, split over inner columns so threads never collide;
//  - gather/scatter_add walk the index's shape with per-operand strides (inputs may be non-contiguous);
//    scatter_add runs serially because two index entries may target the same element.
#include "core/ops/index.h"

#include <cstring>
#include <limits>

#include "core/autograd/node.h"
#include "core/ops/factory.h"
#include "core/ops/index_util.h"
#include "core/ops/pointwise.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/strided_loop.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;
namespace kc = kernels::cpu;

namespace detail {

Tensor index_as_i64(const Tensor& index, const char* op, const char* what) {
  TESSERA_CHECK(index.defined(), op, ": ", what, " tensor is undefined");
  TESSERA_CHECK(is_integral(index.dtype()) && index.dtype() != DType::boolean, op, ": expected an integer ", what,
                " tensor (i64 or i32), got ", dtype_name(index.dtype()));
  return index.detach().to(DType::i64).contiguous();
}

int64_t check_index_range(const Tensor& index_i64, int64_t size, const char* op, const char* what,
                          const std::string& context, std::optional<int64_t> allowed) {
  const int64_t* p = index_i64.data_ptr<int64_t>();
  const int64_t n = index_i64.numel();
  const int64_t skip = allowed.value_or(std::numeric_limits<int64_t>::min());
  int64_t skipped = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = p[i];
    if (static_cast<uint64_t>(v) < static_cast<uint64_t>(size)) continue;
    if (allowed && v == skip) {
      ++skipped;
      continue;
    }
    TESSERA_THROW(op, ": ", what, " ", v, " (at position ", i, ") is out of range for ", context);
  }
  // In-range values equal to `allowed` (an ignore_index inside [0, size)) are skipped too.
  if (allowed && static_cast<uint64_t>(skip) < static_cast<uint64_t>(size))
    for (int64_t i = 0; i < n; ++i) skipped += p[i] == skip;
  return n - skipped;
}

}  // namespace detail

namespace {

using detail::DimLayout;

// out (outer, k, inner) = rows idx[j] of x (outer, size, inner); x contiguous, any dtype.
void take_rows_forward(const Tensor& x, const Tensor& out, const DimLayout& layout, const Tensor& idx) {
  const int64_t k = idx.numel();
  const int64_t row_bytes = layout.inner * static_cast<int64_t>(element_size(x.dtype()));
  if (row_bytes == 0 || k == 0) return;
  const char* src = static_cast<const char*>(x.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  const int64_t* ip = idx.data_ptr<int64_t>();
  kc::parallel_for(layout.outer * k, std::max<int64_t>(1, 65536 / row_bytes), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t o = r / k, j = r % k;
      std::memcpy(dst + r * row_bytes, src + (o * layout.size + ip[j]) * row_bytes, static_cast<size_t>(row_bytes));
    }
  });
}

// grad_x (outer, size, inner) += g (outer, k, inner) at rows idx[j], skipping rows equal to `skip`.
template <typename T>
void add_rows_backward(T* gx, const T* g, const DimLayout& layout, const int64_t* idx, int64_t k, int64_t skip) {
  using A = acc_t<T>;
  const int64_t work_per_column = std::max<int64_t>(1, layout.outer * k);
  kc::parallel_for(layout.inner, std::max<int64_t>(64, 32768 / work_per_column), [&](int64_t begin, int64_t end) {
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

// Picks rows idx (validated, contiguous i64) of x along `dim` into a tensor of `out_shape`; records the backward,
// which gives rows equal to `skip` (embedding's padding_idx; -1 for none) no gradient.
Tensor take_rows(const char* name, const Tensor& x, int64_t dim, const Tensor& idx, const Shape& out_shape,
                 int64_t skip) {
  const DimLayout layout = detail::dim_layout(x.shape(), dim);
  Tensor out = empty(out_shape, {.dtype = x.dtype()});
  take_rows_forward(x.detach().contiguous(), out, layout, idx);
  autograd::record(name, {x}, {out}, {idx}, [layout, skip, name](const Grads& g, const Grads& s, const Node& n) {
    Tensor gx = zeros(n.input_meta[0].shape, {.dtype = g[0].dtype()});
    const Tensor gc = g[0].contiguous();
    dispatch_floating(gx.dtype(), name, [&]<typename T>() {
      add_rows_backward<T>(gx.data_ptr<T>(), gc.data_ptr<T>(), layout, s[0].data_ptr<int64_t>(), s[0].numel(), skip);
    });
    return Grads{gx};
  });
  return out;
}

// Byte strides of `t` for walking the index's shape; `zero_dim`'s stride is zeroed (the index supplies it).
std::vector<int64_t> walk_strides(const Tensor& t, int64_t zero_dim) {
  const int64_t elem = static_cast<int64_t>(element_size(t.dtype()));
  std::vector<int64_t> strides(t.dim());
  for (int64_t d = 0; d < t.dim(); ++d) strides[d] = d == zero_dim ? 0 : t.strides()[d] * elem;
  return strides;
}

int64_t dim_byte_stride(const Tensor& t, int64_t dim) {
  return t.dim() == 0 ? 0 : t.strides()[dim] * static_cast<int64_t>(element_size(t.dtype()));
}

// Operands (a, idx, b) over idx's shape: a and b walk with their own strides, a's or b's dim stride zeroed.
kc::StridedOperands<3> index_operands(const Tensor& a, const Tensor& idx, const Tensor& b, int64_t dim, bool a_indexed) {
  kc::StridedOperands<3> ops;
  ops.shape = idx.shape();
  ops.byte_strides = {walk_strides(a, a_indexed ? dim : -1), walk_strides(idx, -1), walk_strides(b, a_indexed ? -1 : dim)};
  ops.data = {static_cast<char*>(a.raw_data()), static_cast<char*>(idx.raw_data()), static_cast<char*>(b.raw_data())};
  return ops;
}

// out[p] = x[p with dim replaced by idx[p]] for every position p of idx (validated, contiguous i64).
Tensor gather_forward(const Tensor& x, int64_t dim, const Tensor& idx) {
  Tensor out = empty(idx.shape(), {.dtype = x.dtype()});
  const int64_t step = dim_byte_stride(x, dim);
  dispatch_all(x.dtype(), "gather", [&]<typename T>() {
    kc::strided_for_each<3>(index_operands(out, idx, x, dim, false), [&](std::array<char*, 3> p,
                                                                         std::array<int64_t, 3> s, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) =
            *reinterpret_cast<const T*>(p[2] + i * s[2] + *reinterpret_cast<const int64_t*>(p[1] + i * s[1]) * step);
    });
  });
  return out;
}

// out[p with dim replaced by idx[p]] += src[p] for every position p of idx. Serial: targets may repeat.
void scatter_add_into(const Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) {
  const int64_t step = dim_byte_stride(out, dim);
  dispatch_numeric(out.dtype(), "scatter_add", [&]<typename T>() {
    using A = acc_t<T>;
    kc::strided_for_each<3>(
        index_operands(out, idx, src, dim, true),
        [&](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
          for (int64_t i = 0; i < n; ++i) {
            T& o = *reinterpret_cast<T*>(p[0] + i * s[0] + *reinterpret_cast<const int64_t*>(p[1] + i * s[1]) * step);
            o = T(A(o) + A(*reinterpret_cast<const T*>(p[2] + i * s[2])));
          }
        },
        std::numeric_limits<int64_t>::max());
  });
}

// gather/scatter_add shape rules (PyTorch's): same number of dims; index no larger than x outside `dim`, and no
// larger than src anywhere.
void check_index_shape(const char* op, const Tensor& x, int64_t dim, const Tensor& index, const Tensor* src) {
  TESSERA_CHECK(index.dim() == x.dim(), op, ": index must have as many dims as the input; got index of shape ",
                shape_str(index.shape()), " for input of shape ", shape_str(x.shape()));
  for (int64_t d = 0; d < x.dim(); ++d)
    TESSERA_CHECK(d == dim || index.shape()[d] <= x.shape()[d], op, ": index of shape ", shape_str(index.shape()),
                  " is larger than the input of shape ", shape_str(x.shape()), " at dimension ", d);
  if (!src) return;
  TESSERA_CHECK(src->dim() == x.dim(), op, ": src must have as many dims as the input; got src of shape ",
                shape_str(src->shape()), " for input of shape ", shape_str(x.shape()));
  for (int64_t d = 0; d < x.dim(); ++d)
    TESSERA_CHECK(index.shape()[d] <= src->shape()[d], op, ": index of shape ", shape_str(index.shape()),
                  " is larger than src of shape ", shape_str(src->shape()), " at dimension ", d);
}

int64_t size_along(const Tensor& x, int64_t dim) { return x.dim() == 0 ? 1 : x.shape()[dim]; }

std::string dim_context(int64_t dim, int64_t size) { return detail::concat("dimension ", dim, " with size ", size); }

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  TESSERA_CHECK(index.defined() && index.dim() <= 1, "index_select: index must be 0-D or 1-D, got shape ",
                index.defined() ? shape_str(index.shape()) : "undefined");
  dim = normalize_dim(dim, x.dim(), "index_select");
  const int64_t size = size_along(x, dim);
  Tensor idx = detail::checked_index(index, size, "index_select", dim_context(dim, size));
  Shape out_shape = x.shape();
  if (x.dim() > 0) out_shape[dim] = idx.numel();
  else TESSERA_CHECK(idx.numel() == 1, "index_select: a 0-d input takes exactly one index, got ", idx.numel());
  return take_rows("IndexSelectBackward", x, dim, idx, out_shape, -1);
}

Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx) {
  TESSERA_CHECK(weight.dim() == 2, "embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape ",
                shape_str(weight.shape()));
  const int64_t num = weight.shape()[0];
  int64_t skip = -1;
  if (padding_idx) {
    TESSERA_CHECK(*padding_idx >= -num && *padding_idx < num, "embedding: padding_idx ", *padding_idx,
                  " is out of range for ", num, " embeddings");
    skip = *padding_idx < 0 ? *padding_idx + num : *padding_idx;
  }
  Tensor idx = detail::checked_index(indices, num, "embedding",
                                     detail::concat(num, " embeddings (weight of shape ", shape_str(weight.shape()), ")"));
  Shape out_shape = indices.shape();
  out_shape.push_back(weight.shape()[1]);
  return take_rows("EmbeddingBackward", weight, 0, idx, out_shape, skip);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  dim = normalize_dim(dim, x.dim(), "gather");
  check_index_shape("gather", x, dim, index, nullptr);
  const int64_t size = size_along(x, dim);
  Tensor idx = detail::checked_index(index, size, "gather", dim_context(dim, size));
  Tensor out = gather_forward(x.detach(), dim, idx);
  autograd::record("GatherBackward", {x}, {out}, {idx}, [dim](const Grads& g, const Grads& s, const Node& n) {
    Tensor gx = zeros(n.input_meta[0].shape, {.dtype = g[0].dtype()});
    scatter_add_into(gx, dim, s[0], g[0]);
    return Grads{gx};
  });
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = normalize_dim(dim, x.dim(), "scatter_add");
  TESSERA_CHECK(src.defined() && src.dtype() == x.dtype(), "scatter_add: expected src of dtype ",
                dtype_name(x.dtype()), " (the input's), got ", src.defined() ? dtype_name(src.dtype()) : "undefined");
  check_index_shape("scatter_add", x, dim, index, &src);
  const int64_t size = size_along(x, dim);
  Tensor idx = detail::checked_index(index, size, "scatter_add", dim_context(dim, size));
  Tensor out = x.detach().clone();
  scatter_add_into(out, dim, idx, src.detach());
  autograd::record("ScatterAddBackward", {x, src}, {out}, {idx}, [dim](const Grads& g, const Grads& s, const Node& n) {
    Tensor gsrc;
    if (n.needs_input_grad(1)) {
      Tensor part = gather_forward(g[0], dim, s[0]);
      const Shape& src_shape = n.input_meta[1].shape;
      if (part.shape() == src_shape) {
        gsrc = part;
      } else {  // src larger than index: the rest of src was never read
        gsrc = zeros(src_shape, {.dtype = part.dtype()});
        copy_into(make_view(gsrc, part.shape(), gsrc.strides(), 0), part);
      }
    }
    return Grads{n.needs_input_grad(0) ? g[0] : Tensor(), gsrc};
  });
  return out;
}

Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  Tensor idx = detail::index_as_i64(indices, "one_hot", "indices");
  const int64_t* p = idx.data_ptr<int64_t>();
  const int64_t n = idx.numel();
  if (num_classes == -1) {
    TESSERA_CHECK(n > 0, "one_hot: cannot infer num_classes from an empty tensor; pass num_classes");
    num_classes = *std::max_element(p, p + n) + 1;
  }
  TESSERA_CHECK(num_classes >= 0, "one_hot: num_classes must be -1 (infer) or non-negative, got ", num_classes);
  detail::check_index_range(idx, num_classes, "one_hot", "class", detail::concat(num_classes, " classes"));
  Shape shape = indices.shape();
  shape.push_back(num_classes);
  Tensor out = zeros(shape, {.dtype = DType::i64});
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) o[i * num_classes + p[i]] = 1;
  return out;
}

}  // namespace tessera
