// cat and stack: copy their inputs into one new tensor. Invariants:
//  - the result's dtype is the inputs' promoted one, as PyTorch's (skipped empty tensors count too); an input of
//    another dtype is converted first, so its ToCopyBackward gives its gradient back in its own dtype;
//  - every input has the result's shape outside `dim`;
//  - 1-D empty tensors (shape [0]) are skipped whatever the other shapes, as in PyTorch (code that starts a list
//    with an empty tensor relies on it); they get an empty gradient;
//  - every input is on one device, which gets the result; the bytes move by copy_into (a backend copy per input);
//  - backward hands each input a narrow view of the output gradient (no copy).
#include <algorithm>

#include "core/autograd/node.h"
#include "core/ops/pointwise.h"
#include "core/ops/view.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {
bool is_legacy_empty(const Tensor& t) { return t.dim() == 1 && t.shape()[0] == 0; }

// cat of inputs that share one dtype.
Tensor cat_same_dtype(const std::vector<Tensor>& tensors, int64_t dim) {
  const Tensor* ref = nullptr;  // the first input that is not skipped sets the shape and dtype
  for (const Tensor& t : tensors) {
    if (!ref && !is_legacy_empty(t)) ref = &t;
  }
  if (!ref) ref = &tensors[0];  // all empty
  dim = normalize_dim(dim, ref->dim(), "cat");

  std::vector<bool> skipped(tensors.size(), false);
  Shape out_shape = ref->shape();
  out_shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (&t != ref && is_legacy_empty(t)) {
      skipped[i] = true;
      continue;
    }
    TESSERA_CHECK(t.device() == ref->device(), "cat: expected all tensors on one device, got ", ref->device().str(),
                  " and ", t.device().str(), " (tensor ", i, ")");
    bool same = t.dim() == ref->dim();
    for (int64_t d = 0; same && d < t.dim(); ++d) same = d == dim || t.shape()[d] == ref->shape()[d];
    TESSERA_CHECK(same, "cat: sizes of tensors must match except in dimension ", dim, ", but tensor ", i,
                  " has shape ", shape_str(t.shape()), " and the first has shape ", shape_str(ref->shape()));
    out_shape[dim] += t.shape()[dim];
  }

  Tensor out = empty(out_shape, {.dtype = ref->dtype(), .device = ref->device()});
  std::vector<int64_t> offsets(tensors.size(), 0);
  int64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    offsets[i] = offset;
    if (skipped[i]) continue;
    const Tensor& t = tensors[i];
    if (t.numel() > 0) copy_into(make_view(out, t.shape(), out.strides(), offset * out.strides()[dim]), t);
    offset += t.shape()[dim];
  }

  autograd::record("CatBackward", tensors, {out}, {}, [dim, skipped, offsets](const Grads& g, const Grads&,
                                                                              const Node& n) {
    Grads grads(skipped.size());
    for (size_t i = 0; i < skipped.size(); ++i) {
      if (!n.needs_input_grad(i)) continue;
      const Shape& shape = n.input_meta[i].shape;
      grads[i] = skipped[i] ? empty(shape, {.dtype = g[0].dtype(), .device = g[0].device()})
                            : narrow(g[0], dim, offsets[i], shape[dim]);
    }
    return grads;
  });
  return out;
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  TESSERA_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  DType type = tensors[0].defined() ? tensors[0].dtype() : DType::f32;
  for (size_t i = 0; i < tensors.size(); ++i) {
    TESSERA_CHECK(tensors[i].defined(), "cat: tensor ", i, " is undefined");
    TESSERA_CHECK(tensors[i].dim() > 0, "cat: zero-dimensional tensor (at position ", i, ") cannot be concatenated");
    type = promote_types(type, tensors[i].dtype());
  }
  if (std::all_of(tensors.begin(), tensors.end(), [type](const Tensor& t) { return t.dtype() == type; }))
    return cat_same_dtype(tensors, dim);
  std::vector<Tensor> converted;
  converted.reserve(tensors.size());
  for (const Tensor& t : tensors) converted.push_back(t.to(type));
  return cat_same_dtype(converted, dim);
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  TESSERA_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    TESSERA_CHECK(tensors[i].defined(), "stack: tensor ", i, " is undefined");
    TESSERA_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: expects each tensor to be equal size, but got ",
                  shape_str(tensors[0].shape()), " at entry 0 and ", shape_str(tensors[i].shape()), " at entry ", i);
  }
  dim = normalize_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(unsqueeze(t, dim));
  return cat(parts, dim);
}

}  // namespace tessera
