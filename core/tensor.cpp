#include "core/tensor.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "core/autograd/grad_mode.h"
#include "core/backend_of.h"
#include "core/autograd/node.h"
#include "core/ops.h"
#include "core/ops/elementwise.h"
#include "core/stream.h"

namespace tessera {

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::optional<int64_t> checked_shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);  // a 0-d tensor accepts dim 0 and -1, as in PyTorch
  TESSERA_CHECK(dim >= -n && dim < n, op, ": dimension ", dim, " out of range for a tensor with ", ndim,
                " dimensions (expected in [", -n, ", ", n - 1, "])");
  return dim < 0 ? dim + n : dim;
}

AutogradMeta& TensorImpl::autograd_meta() {
  if (!autograd) autograd = std::make_unique<AutogradMeta>();
  return *autograd;
}

namespace {
TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl) {
  TESSERA_CHECK(impl != nullptr, "operation on an undefined tensor");
  return *impl;
}
}  // namespace

const Shape& Tensor::shape() const { return checked(impl_).shape; }
const Shape& Tensor::strides() const { return checked(impl_).strides; }
int64_t Tensor::offset() const { return checked(impl_).offset; }
int64_t Tensor::size(int64_t d) const {
  TESSERA_CHECK(dim() > 0, "size(", d, "): the tensor has no dimensions (0-d)");
  return shape()[normalize_dim(d, dim(), "size")];
}
int64_t Tensor::stride(int64_t d) const {
  TESSERA_CHECK(dim() > 0, "stride(", d, "): the tensor has no dimensions (0-d)");
  return strides()[normalize_dim(d, dim(), "stride")];
}
int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const { return checked(impl_).dtype; }
Device Tensor::device() const { return checked(impl_).storage->device(); }
uint32_t Tensor::version() const { return checked(impl_).storage->version(); }
void Tensor::bump_version() const { checked(impl_).storage->bump_version(); }

bool Tensor::is_contiguous() const {
  const Shape& sh = shape();
  const Shape& st = strides();
  // No elements: contiguous whatever the strides, as PyTorch's (contiguous_strides skips zero sizes, so [2, 0, 3]
  // has strides [3, 3, 1], and filling one through a "contiguous buffer" of its shape recursed without end).
  if (shape_numel(sh) == 0) return true;
  int64_t expected = 1;
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  TensorImpl& impl = checked(impl_);
  return static_cast<char*>(impl.storage->data()) + impl.offset * static_cast<int64_t>(element_size(impl.dtype));
}

template <typename T>
T Tensor::item() const {
  TESSERA_CHECK(numel() == 1, "item(): a tensor with ", numel(), " elements (shape ", shape_str(shape()),
                ") cannot be converted to a scalar");
  return to_vector<T>()[0];
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  const Tensor converted = detach().to(dtype_of<T>()).contiguous();
  std::vector<T> values(static_cast<size_t>(converted.numel()));
  backend_of(device()).copy_to_host(values.data(), converted.raw_data(), converted.nbytes());
  return values;
}

void Tensor::check_host_access(const char* what) const {
  TESSERA_CHECK(device().is_cpu(), what, "(): the host cannot read ", device().str(), " memory (tensor of shape ",
                shape_str(shape()), "); copy it first with to(\"cpu\"), item() or to_vector()");
}

#define TESSERA_INSTANTIATE_ACCESSORS(T)            \
  template T Tensor::item<T>() const;               \
  template std::vector<T> Tensor::to_vector<T>() const;
TESSERA_INSTANTIATE_ACCESSORS(float)
TESSERA_INSTANTIATE_ACCESSORS(double)
TESSERA_INSTANTIATE_ACCESSORS(int32_t)
TESSERA_INSTANTIATE_ACCESSORS(int64_t)
TESSERA_INSTANTIATE_ACCESSORS(uint8_t)
TESSERA_INSTANTIATE_ACCESSORS(bf16)
TESSERA_INSTANTIATE_ACCESSORS(f16)
#undef TESSERA_INSTANTIATE_ACCESSORS

template <>
std::vector<bool> Tensor::to_vector<bool>() const {
  std::vector<uint8_t> bytes = to(DType::boolean).to(DType::u8).to_vector<uint8_t>();
  return std::vector<bool>(bytes.begin(), bytes.end());
}
template bool Tensor::item<bool>() const;  // the generic item(), over the to_vector<bool> above

namespace {
size_t checked_nbytes(const Shape& shape, DType dtype) {
  for (int64_t d : shape) TESSERA_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  return static_cast<size_t>(shape_numel(shape)) * element_size(dtype);
}

Tensor contiguous_over(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}
}  // namespace

Tensor empty(const Shape& shape, TensorOptions options) {
  Tensor t = contiguous_over(std::make_shared<Storage>(checked_nbytes(shape, options.dtype), options.device), shape,
                             options.dtype);
  if (options.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor empty_pinned(const Shape& shape, DType dtype, Device accelerator) {
  TESSERA_CHECK(!accelerator.is_cpu(), "empty_pinned: memory is pinned for an accelerator (cuda:N), not the cpu");
  return contiguous_over(std::make_shared<Storage>(checked_nbytes(shape, dtype), PinnedFor{accelerator}), shape,
                         dtype);
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  // As PyTorch's as_strided (setStorage): every element the view can reach lies in the base's storage.
  TESSERA_CHECK(shape.size() == strides.size(), "make_view: shape ", shape_str(shape), " and strides ",
                shape_str(strides), " differ in length");
  TESSERA_CHECK(offset >= 0, "make_view: negative storage offset ", offset);
  int64_t last = offset;  // the highest element index the view reaches
  bool empty_view = false;
  for (size_t d = 0; d < shape.size(); ++d) {
    TESSERA_CHECK(shape[d] >= 0 && strides[d] >= 0, "make_view: negative size or stride in shape ", shape_str(shape),
                  ", strides ", shape_str(strides));
    empty_view = empty_view || shape[d] == 0;
    if (shape[d] > 0) last += (shape[d] - 1) * strides[d];
  }
  const size_t storage_bytes = base.impl()->storage->nbytes();
  TESSERA_CHECK(empty_view || static_cast<size_t>(last + 1) * element_size(base.dtype()) <= storage_bytes,
                "make_view: shape ", shape_str(shape), ", strides ", shape_str(strides), " and storage offset ", offset,
                " need ", static_cast<size_t>(last + 1) * element_size(base.dtype()),
                " bytes, out of bounds for a storage of ", storage_bytes, " bytes");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::to(DType target) const {
  if (dtype() == target) return *this;
  Tensor out = empty(shape(), {.dtype = target, .device = device()});
  copy_into(out, *this);
  detail::record_dtype_conversion(*this, out);
  return out;
}

void detail::record_dtype_conversion(const Tensor& source, const Tensor& out) {
  if (!is_floating(out.dtype())) return;
  const DType from = source.dtype();
  autograd::record("ToCopyBackward", {source}, {out}, {},
                   [from](const std::vector<Tensor>& g, const std::vector<Tensor>&, const autograd::Node&) {
                     return std::vector<Tensor>{g[0].to(from)};
                   });
}

namespace {
// A contiguous copy of `src` (contiguous) on `target`, through the host when neither side is the CPU; queued
// without waiting when asked (non_blocking) and the host side is pinned memory.
Tensor copy_to_device(const Tensor& src, Device target, bool non_blocking) {
  if (src.device().is_cpu()) {
    Tensor out = empty(src.shape(), {.dtype = src.dtype(), .device = target});
    kernels::Backend& backend = backend_of(target);
    if (non_blocking && src.is_pinned())
      backend.copy_from_host_async(out.raw_data(), src.raw_data(), src.nbytes());
    else
      backend.copy_from_host(out.raw_data(), src.raw_data(), src.nbytes());
    return out;
  }
  if (target.is_cpu()) {
    kernels::Backend& backend = backend_of(src.device());
    if (!non_blocking) {
      Tensor out = empty(src.shape(), {.dtype = src.dtype(), .device = target});
      backend.copy_to_host(out.raw_data(), src.raw_data(), src.nbytes());
      return out;
    }
    Tensor out = empty_pinned(src.shape(), src.dtype(), src.device());
    backend.copy_to_host_async(out.raw_data(), src.raw_data(), src.nbytes());
    return out;
  }
  return copy_to_device(copy_to_device(src, Device(), false), target, false);
}
}  // namespace

bool Tensor::is_pinned() const { return checked(impl_).storage->pinned(); }

void Tensor::record_stream(const Stream& stream) const {
  const TensorImpl& impl = checked(impl_);
  TESSERA_CHECK(stream.device() == device(), "record_stream: the tensor is on ", device().str(), ", the stream on ",
                stream.device().str());
  impl.storage->backend().record_stream(impl.storage->data(), stream.handle());
}

Tensor Tensor::pin_memory(Device accelerator) const {
  check_host_access("pin_memory");
  if (is_pinned()) return *this;
  Tensor out = empty_pinned(shape(), dtype(), accelerator);
  NoGradGuard no_grad;
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(Device target, bool non_blocking) const {
  if (target == device()) return *this;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = copy_to_device(contiguous(), target, non_blocking);
  }
  const Device source = device();
  autograd::record("ToCopyBackward", {*this}, {out}, {},
                   [source](const std::vector<Tensor>& g, const std::vector<Tensor>&, const autograd::Node&) {
                     return std::vector<Tensor>{g[0].to(source)};
                   });
  return out;
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), {.dtype = dtype(), .device = device()});
  copy_into(out, *this);
  autograd::record("CloneBackward", {*this}, {out}, {},
                   [](const std::vector<Tensor>& g, const std::vector<Tensor>&, const autograd::Node&) {
                     return std::vector<Tensor>{g[0]};
                   });
  return out;
}

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

bool Tensor::requires_grad() const {
  const TensorImpl& impl = checked(impl_);
  return impl.autograd && impl.autograd->requires_grad;
}

Tensor& Tensor::requires_grad_(bool flag) {
  TESSERA_CHECK(is_leaf() || flag, "you can only change requires_grad flags of leaf tensors; use detach() "
                "to get a tensor that does not require grad");
  TESSERA_CHECK(!flag || is_floating_point(), "only tensors of floating point dtype can require gradients, got ",
                dtype_name(dtype()));
  impl_->autograd_meta().requires_grad = flag;
  return *this;
}

bool Tensor::is_leaf() const {
  const TensorImpl& impl = checked(impl_);
  return !impl.autograd || !impl.autograd->grad_fn;
}

Tensor Tensor::grad() const {
  const TensorImpl& impl = checked(impl_);
  return impl.autograd && impl.autograd->grad ? *impl.autograd->grad : Tensor();
}

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined()) {
    TESSERA_CHECK(grad.shape() == shape(), "set_grad: gradient of shape ", shape_str(grad.shape()),
                  " for a tensor of shape ", shape_str(shape()));
    // As PyTorch's .grad setter: an optimizer or GradScaler reading it assumes the tensor's own dtype and device.
    TESSERA_CHECK(grad.dtype() == dtype(), "set_grad: gradient of dtype ", dtype_name(grad.dtype()),
                  " for a tensor of dtype ", dtype_name(dtype()));
    TESSERA_CHECK(grad.device() == device(), "set_grad: gradient on ", grad.device().str(), " for a tensor on ",
                  device().str());
  }
  checked(impl_).autograd_meta().grad = std::make_shared<Tensor>(grad);
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<autograd::Node> none;
  const TensorImpl& impl = checked(impl_);
  return impl.autograd ? impl.autograd->grad_fn : none;
}

void Tensor::retain_grad() const {
  TESSERA_CHECK(requires_grad(), "retain_grad() on a tensor that does not require grad");
  if (is_leaf()) return;  // leaves keep their gradient anyway
  AutogradMeta& meta = impl_->autograd_meta();
  if (meta.retains_grad) return;
  meta.retains_grad = true;
  meta.grad_fn->retained_outputs.emplace_back(meta.output_nr, std::weak_ptr<TensorImpl>(impl_));
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::run_backward({*this}, {gradient}, retain_graph);
}

void Tensor::register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const {
  TESSERA_CHECK(is_leaf() && requires_grad(),
                "post-accumulate-grad hooks can only be registered on leaf tensors that require grad");
  impl_->autograd_meta().post_accumulate_grad_hooks.push_back(std::move(hook));
}

Tensor Tensor::view(const Shape& s) const { return tessera::view(*this, s); }
Tensor Tensor::reshape(const Shape& s) const { return tessera::reshape(*this, s); }
Tensor Tensor::flatten(int64_t a, int64_t b) const { return tessera::flatten(*this, a, b); }
Tensor Tensor::permute(const Shape& dims) const { return tessera::permute(*this, dims); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return tessera::transpose(*this, a, b); }
Tensor Tensor::narrow(int64_t d, int64_t s, int64_t l) const { return tessera::narrow(*this, d, s, l); }
Tensor Tensor::slice(int64_t d, int64_t s, int64_t e, int64_t st) const { return tessera::slice(*this, d, s, e, st); }
Tensor Tensor::select(int64_t d, int64_t i) const { return tessera::select(*this, d, i); }
Tensor Tensor::expand(const Shape& s) const { return tessera::expand(*this, s); }
Tensor Tensor::t() const {
  TESSERA_CHECK(dim() <= 2, "t() expects a tensor with <= 2 dimensions, but self is ", dim(), "D (shape ",
                shape_str(shape()), "); use transpose(dim0, dim1) or permute()");
  return dim() == 2 ? tessera::transpose(*this, 0, 1) : tessera::transpose(*this, 0, 0);
}
Tensor Tensor::squeeze() const { return tessera::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return tessera::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return tessera::unsqueeze(*this, d); }
Tensor Tensor::sum() const { return tessera::sum(*this); }
Tensor Tensor::sum(const Shape& dims, bool keepdim) const { return tessera::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return tessera::mean(*this); }
Tensor Tensor::mean(const Shape& dims, bool keepdim) const { return tessera::mean(*this, dims, keepdim); }
Tensor Tensor::matmul(const Tensor& other) const { return tessera::matmul(*this, other); }
Tensor Tensor::exp() const { return tessera::exp(*this); }
Tensor Tensor::log() const { return tessera::log(*this); }
Tensor Tensor::relu() const { return tessera::relu(*this); }

// `src`: the tensor operand, if any. Its gradient would be lost as silently as the target's (PyTorch records
// buf.copy_(x), buf.add_(x) and makes buf require grad), so a source that requires grad is refused too.
void detail::check_inplace_allowed(const Tensor& t, const char* op, const Tensor* src) {
  TESSERA_CHECK(!(GradMode::is_enabled() && t.requires_grad()), op, " on a tensor of shape ", shape_str(t.shape()),
                " that requires grad: in-place ops are not recorded by autograd; use the out-of-place op, or wrap "
                "the update in NoGradGuard");
  TESSERA_CHECK(!(GradMode::is_enabled() && src && src->defined() && src->requires_grad()), op,
                " with an operand of shape ", shape_str(src->shape()), " that requires grad: in-place ops are not "
                "recorded by autograd, so its gradient would be lost; use the out-of-place op (e.g. cat, add, mul), "
                "or pass it detach()ed or under NoGradGuard");
  // A view that does not require grad itself may still alias a tensor that does (PyTorch's view metadata): made
  // under NoGradGuard from it, or made before its base was set to require grad. Writing through it with grad mode on
  // would change the base behind autograd's back (its gradients silently wrong), so it is refused as PyTorch does.
  if (!GradMode::is_enabled() || t.requires_grad()) return;
  const TensorImpl& impl = *t.impl();
  const Tensor base(impl.view_base.lock());
  const bool base_requires_grad = base.defined() && base.requires_grad();
  // While the base lives, whether it requires grad now decides, as PyTorch's view.requires_grad reads its base's (a
  // base frozen since, requires_grad_(false), takes writes); once it is gone, whether it did when the view was made.
  const bool aliases_grad = base.defined() ? base_requires_grad : impl.view_base_required_grad;
  TESSERA_CHECK(!(impl.view_created_in_no_grad && aliases_grad), op,
                " on a view of shape ", shape_str(t.shape()), ": a view was created in no grad mode (NoGradGuard) "
                "from a tensor that requires grad and is being modified in place with grad mode enabled. Given that "
                "this use case is ambiguous and error-prone, it is forbidden: make both the view and the in-place op "
                "inside the NoGradGuard (the write is not tracked), or write to a detach()ed view");
  TESSERA_CHECK(!base_requires_grad, op, " on a view of shape ", shape_str(t.shape()), " of a tensor that requires "
                "grad (set after the view was made): in-place ops are not recorded by autograd; use the out-of-place "
                "op, or wrap the update in NoGradGuard");
}

namespace {
using detail::check_inplace_allowed;

// PyTorch's is_non_overlapping_and_dense: the elements fill one block of memory, each once, in some order of dims.
bool non_overlapping_and_dense(const Tensor& t) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size) of each dim longer than 1
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.shape()[d] != 1) dims.emplace_back(t.strides()[d], t.shape()[d]);
  std::sort(dims.begin(), dims.end());
  int64_t expected = 1;
  for (const auto& [stride, size] : dims) {
    if (stride != expected) return false;
    expected *= size;
  }
  return true;
}

// PyTorch's assert_no_internal_overlap: a written tensor two of whose elements are one memory location (a stride
// of 0 over a dim longer than 1, as expand() makes) would take several results in one place, in whatever order the
// backend writes them (the CPU loop in sequence, its threads or a GPU's at once).
void check_no_internal_overlap(const Tensor& t, const char* op) {
  for (int64_t d = 0; d < t.dim(); ++d)
    TESSERA_CHECK(t.strides()[d] != 0 || t.shape()[d] <= 1, op, ": unsupported operation: more than one element of "
                  "the written-to tensor (shape ", shape_str(t.shape()), ", strides ", shape_str(t.strides()),
                  ") refers to a single memory location. Please clone() the tensor before performing the operation.");
}

// PyTorch's assert_no_partial_overlap: an operand sharing memory with the written tensor other than element for
// element (x.add_(x.t()), x.narrow(0, 1, n).copy_(x.narrow(0, 0, n))) would be read after part of it was
// overwritten. As PyTorch, only dense operands are compared (other layouts are "too hard" and pass).
void check_no_partial_overlap(const Tensor& out, const Tensor& in, const char* op) {
  if (!in.defined() || out.is_same(in) || out.numel() == 0 || in.numel() == 0) return;
  if (out.impl()->storage != in.impl()->storage) return;
  if (!non_overlapping_and_dense(out) || !non_overlapping_and_dense(in)) return;
  const int64_t out_begin = out.offset() * static_cast<int64_t>(element_size(out.dtype()));
  const int64_t out_end = out_begin + static_cast<int64_t>(out.nbytes());
  const int64_t in_begin = in.offset() * static_cast<int64_t>(element_size(in.dtype()));
  const int64_t in_end = in_begin + static_cast<int64_t>(in.nbytes());
  const bool partial = out_begin == in_begin && out_end == in_end ? out.strides() != in.strides()
                                                                  : out_begin < in_end && in_begin < out_end;
  TESSERA_CHECK(!partial, op, ": unsupported operation: some elements of the input tensor (shape ",
                shape_str(in.shape()), ", strides ", shape_str(in.strides()), ") and the written-to tensor (shape ",
                shape_str(out.shape()), ", strides ", shape_str(out.strides()), ") refer to a single memory location. "
                "Please clone() the tensor before performing the operation.");
}

// Both of PyTorch's overlap checks of an in-place write into `out` (reading `in`, if given).
void check_no_overlap(const Tensor& out, const Tensor* in, const char* op) {
  check_no_internal_overlap(out, op);
  if (in) check_no_partial_overlap(out, *in, op);
}
}  // namespace

Tensor& Tensor::zero_() { return fill_(0.0); }

Tensor& Tensor::fill_(double value) {
  check_inplace_allowed(*this, "fill_");
  detail::fill_into(*this, value);
  bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace_allowed(*this, "copy_", &src);
  check_no_overlap(*this, &src, "copy_");
  copy_into(*this, src);
  bump_version();
  return *this;
}

namespace {
// An in-place op with a tensor writes the promoted result into `self`'s dtype: refused, not truncated, where
// PyTorch refuses it (a float result into an integer or bool tensor, an integer one into a bool tensor).
void check_result_fits(const Tensor& self, const Tensor& other, const char* op) {
  const DType result = result_type(self, other);
  TESSERA_CHECK(can_cast(result, self.dtype()), op, ": the result type ", dtype_name(result), " (", dtype_name(self.dtype()), " with ",
                dtype_name(other.dtype()), ") can't be cast to the tensor's dtype ", dtype_name(self.dtype()),
                " in place");
}
// A scalar's counterpart: an integer tensor takes whole numbers only, a bool tensor 0 and 1 (PyTorch refuses the
// rest as a result type its dtype can't hold). The scalar is a double here, so 2.0 passes where PyTorch, which tells
// the float 2.0 from the int 2, refuses it too.
void check_scalar_fits(const Tensor& self, double value, const char* op, const char* what) {
  if (self.is_floating_point()) return;
  const bool boolean = self.dtype() == DType::boolean;
  TESSERA_CHECK(boolean ? (value == 0 || value == 1) : std::trunc(value) == value, op, ": ", what, " ", value,
                " can't be written into a tensor of dtype ", dtype_name(self.dtype()), " in place (",
                boolean ? "only 0 and 1" : "whole numbers only", ")");
}
}  // namespace

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace_allowed(*this, "add_", &other);
  TESSERA_CHECK(broadcast_shapes(shape(), other.shape()) == shape(), "add_: cannot broadcast ",
                shape_str(other.shape()), " into ", shape_str(shape()));
  check_result_fits(*this, other, "add_");
  check_scalar_fits(*this, alpha, "add_", "alpha");
  check_no_overlap(*this, &other, "add_");
  detail::add_into(*this, *this, other, alpha);
  bump_version();
  return *this;
}

Tensor& Tensor::mul_(double value) {
  check_inplace_allowed(*this, "mul_");
  check_scalar_fits(*this, value, "mul_", "the scalar");
  check_no_overlap(*this, nullptr, "mul_");
  detail::mul_into(*this, *this,
                   scalar_tensor(value, {.dtype = is_floating_point() ? dtype() : DType::f64, .device = device()}));
  bump_version();
  return *this;
}

Tensor& Tensor::mul_(const Tensor& other) {
  check_inplace_allowed(*this, "mul_", &other);
  TESSERA_CHECK(broadcast_shapes(shape(), other.shape()) == shape(), "mul_: cannot broadcast ",
                shape_str(other.shape()), " into ", shape_str(shape()));
  check_result_fits(*this, other, "mul_");
  check_no_overlap(*this, &other, "mul_");
  detail::mul_into(*this, *this, other);
  bump_version();
  return *this;
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream out;
  out << "Tensor(shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype());
  if (numel() <= 64) {
    out << ", values=[";
    std::vector<double> values = to_vector<double>();
    for (size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << std::setprecision(6) << values[i];
    out << "]";
  }
  if (requires_grad()) out << ", requires_grad";
  out << ")";
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) { return out << t.str(); }

DType result_type(const Tensor& a, const Tensor& b) {
  if ((a.dim() == 0) == (b.dim() == 0)) return promote_types(a.dtype(), b.dtype());
  return a.dim() == 0 ? promote_with_zero_dim(b.dtype(), a.dtype()) : promote_with_zero_dim(a.dtype(), b.dtype());
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) { return div(a, b); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(double a, const Tensor& b) { return rsub(b, a); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(double a, const Tensor& b) { return rdiv(b, a); }
Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace tessera
