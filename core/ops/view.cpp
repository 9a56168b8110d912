// View ops: new shape/strides/offset over the same storage. Backward maps the gradient back to the input's shape.
#include "core/ops/view.h"

#include <numeric>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/ops/factory.h"
#include "core/ops/pointwise.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Shape& from) {
  Shape out = shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TESSERA_CHECK(infer < 0, op, ": only one dimension can be inferred (-1) in ", shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      TESSERA_CHECK(out[i] >= 0, op, ": invalid dimension ", out[i], " in ", shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    TESSERA_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape_str(shape), " is invalid for input of shape ",
                  shape_str(from));
    out[infer] = numel / known;
  }
  TESSERA_CHECK(shape_numel(out) == numel, op, ": shape ", shape_str(shape), " is invalid for input of shape ",
                shape_str(from), " (", numel, " elements)");
  return out;
}

// Strides that let `x` be viewed with `shape` without copying, or nullopt (PyTorch's computeStride).
std::optional<Shape> view_strides(const Tensor& x, const Shape& shape) {
  const Shape& old_shape = x.shape();
  const Shape& old_strides = x.strides();
  Shape strides(shape.size());
  if (x.numel() == 0 || old_shape.empty()) return contiguous_strides(shape);
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1;
  int64_t view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

// A view of `x` that remembers its base (x's own base, when x is a view whose base is alive), as PyTorch's as_view:
// a view made with grad mode off, or from such a view, is one an in-place op with grad mode on must refuse while its
// base requires grad (Tensor's check_inplace_allowed).
Tensor tracked_view(const Tensor& x, Shape shape, Shape strides, int64_t offset) {
  Tensor out = make_view(x, std::move(shape), std::move(strides), offset);
  const TensorImpl& in = *x.impl();
  TensorImpl& view = *out.impl();
  std::shared_ptr<TensorImpl> base = in.view_base.lock();
  view.view_base = base ? base : x.impl_ptr();
  const bool no_grad = !GradMode::is_enabled();
  view.view_created_in_no_grad = in.view_created_in_no_grad || no_grad;
  view.view_base_required_grad =
      in.view_base_required_grad || (no_grad && (x.requires_grad() || (base && Tensor(base).requires_grad())));
  return out;
}

Tensor record_reshape_back(const Tensor& x, Tensor out, const char* name) {
  autograd::record(name, {x}, {out}, {}, [](const Grads& g, const Grads&, const Node& n) {
    return Grads{g[0].reshape(n.input_meta[0].shape)};
  });
  return out;
}

}  // namespace

Tensor view(const Tensor& x, const Shape& shape) {
  Shape target = infer_shape(shape, x.numel(), "view", x.shape());
  std::optional<Shape> strides = view_strides(x, target);
  TESSERA_CHECK(strides.has_value(), "view: shape ", shape_str(target), " is not compatible with input of shape ",
                shape_str(x.shape()), " and strides ", shape_str(x.strides()), "; use reshape() instead");
  return record_reshape_back(x, tracked_view(x, target, *strides, x.offset()), "ViewBackward");
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape target = infer_shape(shape, x.numel(), "reshape", x.shape());
  if (std::optional<Shape> strides = view_strides(x, target))
    return record_reshape_back(x, tracked_view(x, target, *strides, x.offset()), "ViewBackward");
  return view(x.clone(), target);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return x.reshape({1});
  start_dim = normalize_dim(start_dim, x.dim(), "flatten");
  end_dim = normalize_dim(end_dim, x.dim(), "flatten");
  TESSERA_CHECK(start_dim <= end_dim, "flatten: start_dim ", start_dim, " is after end_dim ", end_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) merged *= x.shape()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + end_dim + 1, x.shape().end());
  return x.reshape(shape);
}

Tensor permute(const Tensor& x, const Shape& dims) {
  TESSERA_CHECK(static_cast<int64_t>(dims.size()) == x.dim(), "permute: got ", dims.size(), " dims for a tensor of ",
                x.dim(), " dims");
  Shape shape(dims.size()), strides(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = normalize_dim(dims[i], x.dim(), "permute");
    TESSERA_CHECK(!seen[d], "permute: repeated dim ", dims[i], " in ", shape_str(dims));
    seen[d] = true;
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
    inverse[d] = static_cast<int64_t>(i);
  }
  Tensor out = tracked_view(x, shape, strides, x.offset());
  autograd::record("PermuteBackward", {x}, {out}, {}, [inverse](const Grads& g, const Grads&, const Node&) {
    return Grads{g[0].permute(inverse)};
  });
  return out;
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  if (x.dim() == 0) {  // dims 0 and -1 only; still a new view, as PyTorch's
    normalize_dim(dim0, 0, "transpose");
    normalize_dim(dim1, 0, "transpose");
    return permute(x, {});
  }
  Shape dims(x.dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[normalize_dim(dim0, x.dim(), "transpose")], dims[normalize_dim(dim1, x.dim(), "transpose")]);
  return permute(x, dims);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  TESSERA_CHECK(x.dim() > 0, "slice: cannot be applied to a 0-dim tensor");
  dim = normalize_dim(dim, x.dim(), "slice");
  TESSERA_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t size = x.shape()[dim];
  auto clamp_index = [size](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + size : i, 0, size); };
  start = clamp_index(start);
  end = std::max(start, clamp_index(end));
  Shape shape = x.shape(), strides = x.strides();
  shape[dim] = (end - start + step - 1) / step;
  strides[dim] *= step;
  Tensor out = tracked_view(x, shape, strides, x.offset() + start * x.strides()[dim]);
  autograd::record("SliceBackward", {x}, {out}, {}, [dim, start, end, step](const Grads& g, const Grads&, const Node& n) {
    Tensor grad = zeros(n.input_meta[0].shape, {.dtype = g[0].dtype(), .device = g[0].device()});
    copy_into(slice(grad, dim, start, end, step), g[0]);
    return Grads{grad};
  });
  return out;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  TESSERA_CHECK(x.dim() > 0, "narrow: cannot be applied to a 0-dim tensor");
  dim = normalize_dim(dim, x.dim(), "narrow");
  const int64_t size = x.shape()[dim];
  if (start < 0) start += size;
  TESSERA_CHECK(start >= 0 && length >= 0 && start + length <= size, "narrow: start ", start, " + length ", length,
                " exceeds dimension ", dim, " of size ", size);
  return slice(x, dim, start, start + length);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  TESSERA_CHECK(x.dim() > 0, "select: cannot be applied to a 0-dim tensor");
  dim = normalize_dim(dim, x.dim(), "select");
  const int64_t size = x.shape()[dim];
  TESSERA_CHECK(index >= -size && index < size, "select: index ", index, " out of range for dimension ", dim,
                " of size ", size);
  if (index < 0) index += size;
  return squeeze(narrow(x, dim, index, 1), dim);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  TESSERA_CHECK(shape.size() >= static_cast<size_t>(x.dim()), "expand: the requested shape ", shape_str(shape),
                " has fewer dims than the tensor's ", shape_str(x.shape()));
  const size_t lead = shape.size() - x.dim();
  Shape out_shape(shape.size()), strides(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      TESSERA_CHECK(shape[i] >= 0, "expand: -1 is not allowed for new leading dims in ", shape_str(shape));
      out_shape[i] = shape[i];
      continue;
    }
    const int64_t have = x.shape()[i - lead];
    const int64_t want = shape[i] == -1 ? have : shape[i];
    TESSERA_CHECK(have == want || have == 1, "expand: the expanded size ", want, " must match the existing size ",
                  have, " at non-singleton dimension ", i, " (", shape_str(x.shape()), " -> ", shape_str(shape), ")");
    out_shape[i] = want;
    strides[i] = have == want ? x.strides()[i - lead] : 0;
  }
  Tensor out = tracked_view(x, out_shape, strides, x.offset());
  autograd::record("ExpandBackward", {x}, {out}, {}, [](const Grads& g, const Grads&, const Node& n) {
    return Grads{sum_to(g[0], n.input_meta[0].shape)};
  });
  return out;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) { return expand(x, shape); }

// A squeeze that removes nothing is still a new view with its own node (PyTorch's SqueezeBackward), never `x`
// itself: a caller's y = x.squeeze() must not share x's autograd state (y.requires_grad_(false), y.set_grad()).
Tensor squeeze(const Tensor& x) {
  Shape shape, strides;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (x.shape()[d] != 1) {
      shape.push_back(x.shape()[d]);
      strides.push_back(x.strides()[d]);
    }
  return record_reshape_back(x, tracked_view(x, shape, strides, x.offset()), "SqueezeBackward");
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  dim = normalize_dim(dim, x.dim(), "squeeze");
  if (x.dim() == 0 || x.shape()[dim] != 1) return record_reshape_back(x, x.detach(), "SqueezeBackward");
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  return record_reshape_back(x, tracked_view(x, shape, strides, x.offset()), "SqueezeBackward");
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  dim = normalize_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape(), strides = x.strides();
  const int64_t stride = dim < x.dim() ? x.strides()[dim] * x.shape()[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, stride);
  return record_reshape_back(x, tracked_view(x, shape, strides, x.offset()), "UnsqueezeBackward");
}

Tensor contiguous(const Tensor& x) { return x.contiguous(); }

}  // namespace tessera
