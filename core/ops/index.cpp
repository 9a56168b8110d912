// Indexing front ends: index_select, embedding, gather, scatter_add, one_hot. Shape rules, index dtype (any integer
// becomes contiguous i64 on the index's device) and autograd live here; each op is one backend call
// (kernels/backend.h, "indexing"). Invariants:
//  - the host never reads an index: the backend entry checks every index against IndexBounds before it touches
//    memory and reports the first bad one ("<op>: index 7 (at position 2) is out of range for ...");
//  - outputs are allocated on the inputs' device, and x and the index must share it;
//  - index_select/embedding work on a contiguous x as (outer, size, inner) rows; their backward adds gradient rows
//    into a fresh zero tensor; gather/scatter_add walk the index's shape with each operand's own strides.
#include "core/ops/index.h"

#include <limits>

#include "core/autograd/node.h"
#include "core/backend_of.h"
#include "core/ops/elementwise.h"
#include "core/ops/factory.h"
#include "core/ops/index_util.h"
#include "core/ops/pointwise.h"
#include "core/ops/reduce.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

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

// `context` must outlive the call the bounds go to (hence no temporaries).
kernels::IndexBounds bounds_of(const char* op, int64_t size, const std::string& context, const char* what = "index") {
  return {.size = size, .op = op, .what = what, .context = context.c_str()};
}
kernels::IndexBounds bounds_of(const char*, int64_t, std::string&&, const char* = "index") = delete;

// The backend of x and idx, which must share a device.
kernels::Backend& backend_for(const char* op, const Tensor& x, const Tensor& idx) {
  return backend_of(detail::common_device(op, {&x, &idx}));
}

// Picks rows idx (contiguous i64, checked by the backend against `bounds`) of x along `dim` into a tensor of
// `out_shape`; records the backward, which gives rows equal to `skip` (embedding's padding_idx; -1 for none) no
// gradient.
Tensor take_rows(const char* name, const Tensor& x, int64_t dim, const Tensor& idx, const Shape& out_shape,
                 int64_t skip, const kernels::IndexBounds& bounds) {
  const DimLayout l = detail::dim_layout(x.shape(), dim);
  const kernels::RowLayout layout{.outer = l.outer, .size = l.size, .inner = l.inner};
  kernels::Backend& backend = backend_for(bounds.op, x, idx);
  Tensor out = empty(out_shape, {.dtype = x.dtype(), .device = x.device()});
  const Tensor xc = x.detach().contiguous();
  backend.index_select(x.dtype(), layout, out.raw_data(), xc.raw_data(), idx.raw_data(), idx.numel(), bounds);
  autograd::record(name, {x}, {out}, {idx}, [layout, skip, name](const Grads& g, const Grads& s, const Node& n) {
    Tensor gx = zeros(n.input_meta[0].shape, {.dtype = g[0].dtype(), .device = g[0].device()});
    const Tensor gc = g[0].contiguous();
    backend_for(name, gc, s[0]).index_select_backward(gx.dtype(), layout, gx.raw_data(), gc.raw_data(),
                                                      s[0].raw_data(), s[0].numel(), skip);
    return Grads{gx};
  });
  return out;
}

// t walked over the index's shape (t has as many dims): its own strides, `zero_dim`'s zeroed (the index
// supplies that coordinate; -1 for none).
kernels::StridedArg walk_arg(const Tensor& t, int64_t zero_dim) {
  kernels::StridedArg arg;
  arg.data = t.raw_data();
  arg.dtype = t.dtype();
  for (int64_t d = 0; d < t.dim(); ++d) arg.strides[d] = d == zero_dim ? 0 : t.strides()[d];
  return arg;
}

int64_t dim_stride(const Tensor& t, int64_t dim) { return t.dim() == 0 ? 0 : t.strides()[dim]; }

// out[p] = x[p with dim replaced by idx[p]] for every position p of idx (contiguous i64, checked by the backend).
Tensor gather_forward(const Tensor& x, int64_t dim, const Tensor& idx, const kernels::IndexBounds& bounds) {
  kernels::Backend& backend = backend_for(bounds.op, x, idx);
  Tensor out = empty(idx.shape(), {.dtype = x.dtype(), .device = x.device()});
  backend.gather(detail::loop_shape(idx, bounds.op), walk_arg(out, -1), walk_arg(x, dim), idx.raw_data(),
                 dim_stride(x, dim), bounds);
  return out;
}

// out[p with dim replaced by idx[p]] += src[p] for every position p of idx.
void scatter_add_into(const Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src,
                      const kernels::IndexBounds& bounds) {
  backend_of(detail::common_device(bounds.op, {&out, &idx, &src}))
      .scatter_add(detail::loop_shape(idx, bounds.op), walk_arg(out, dim), walk_arg(src, -1), idx.raw_data(),
                   dim_stride(out, dim), bounds);
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
  const Tensor idx = detail::index_as_i64(index, "index_select");
  Shape out_shape = x.shape();
  if (x.dim() > 0) out_shape[dim] = idx.numel();
  else TESSERA_CHECK(idx.numel() == 1, "index_select: a 0-d input takes exactly one index, got ", idx.numel());
  const std::string context = dim_context(dim, size);
  return take_rows("IndexSelectBackward", x, dim, idx, out_shape, -1, bounds_of("index_select", size, context));
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
  const Tensor idx = detail::index_as_i64(indices, "embedding");
  const std::string context = detail::concat(num, " embeddings (weight of shape ", shape_str(weight.shape()), ")");
  Shape out_shape = indices.shape();
  out_shape.push_back(weight.shape()[1]);
  return take_rows("EmbeddingBackward", weight, 0, idx, out_shape, skip, bounds_of("embedding", num, context));
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  dim = normalize_dim(dim, x.dim(), "gather");
  check_index_shape("gather", x, dim, index, nullptr);
  const int64_t size = size_along(x, dim);
  const Tensor idx = detail::index_as_i64(index, "gather");
  const std::string context = dim_context(dim, size);
  Tensor out = gather_forward(x.detach(), dim, idx, bounds_of("gather", size, context));
  autograd::record("GatherBackward", {x}, {out}, {idx}, [dim, size, context](const Grads& g, const Grads& s,
                                                                            const Node& n) {
    Tensor gx = zeros(n.input_meta[0].shape, {.dtype = g[0].dtype(), .device = g[0].device()});
    scatter_add_into(gx, dim, s[0], g[0], bounds_of("gather backward", size, context));
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
  const Tensor idx = detail::index_as_i64(index, "scatter_add");
  const std::string context = dim_context(dim, size);
  Tensor out = x.detach().clone();
  scatter_add_into(out, dim, idx, src.detach(), bounds_of("scatter_add", size, context));
  autograd::record("ScatterAddBackward", {x, src}, {out}, {idx}, [dim, size, context](const Grads& g, const Grads& s,
                                                                                     const Node& n) {
    Tensor gsrc;
    if (n.needs_input_grad(1)) {
      Tensor part = gather_forward(g[0], dim, s[0], bounds_of("scatter_add backward", size, context));
      const Shape& src_shape = n.input_meta[1].shape;
      if (part.shape() == src_shape) {
        gsrc = part;
      } else {  // src larger than index: the rest of src was never read
        gsrc = zeros(src_shape, {.dtype = part.dtype(), .device = part.device()});
        copy_into(make_view(gsrc, part.shape(), gsrc.strides(), 0), part);
      }
    }
    return Grads{n.needs_input_grad(0) ? g[0] : Tensor(), gsrc};
  });
  return out;
}

Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  const Tensor idx = detail::index_as_i64(indices, "one_hot", "indices");
  const int64_t n = idx.numel();
  if (num_classes == -1) {
    TESSERA_CHECK(n > 0, "one_hot: cannot infer num_classes from an empty tensor; pass num_classes");
    // The output's shape depends on the data: one explicit scalar copy to the host (PyTorch syncs here too).
    num_classes = max(idx).item<int64_t>() + 1;
  }
  TESSERA_CHECK(num_classes >= 0, "one_hot: num_classes must be -1 (infer) or non-negative, got ", num_classes);
  Shape shape = indices.shape();
  shape.push_back(num_classes);
  Tensor out = zeros(shape, {.dtype = DType::i64, .device = idx.device()});
  const std::string context = detail::concat(num_classes, " classes");
  backend_of(idx.device()).one_hot(out.raw_data(), idx.raw_data(), n, bounds_of("one_hot", num_classes, context, "class"));
  return out;
}

}  // namespace tessera
