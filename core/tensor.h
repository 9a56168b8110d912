#pragma once
// Tensor: a cheap handle (shared_ptr) to a TensorImpl, like torch::Tensor. Copying a Tensor copies the handle;
// views share Storage. Invariants:
//  - shape and strides have the same length; strides and offset are in elements, not bytes;
//  - a default-constructed Tensor is "undefined" (defined() == false), used for absent gradients;
//  - autograd state lives in AutogradMeta, allocated only for tensors that take part in autograd.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/storage.h"

namespace tessera {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);  // "[2, 3]"
int64_t shape_numel(const Shape& shape);
// For shapes read from files: nullopt when a dim is negative or the product passes int64 (shape_numel's would
// overflow, undefined behaviour, wrapping to a size a later check may accept).
std::optional<int64_t> checked_shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
// Maps a possibly negative dim into [0, ndim); `op` names the caller in the error.
int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op);

namespace autograd {
class Node;
}
namespace amp {
struct CastCopy;
}

class Tensor;
class Stream;
using PostAccumulateGradHook = std::function<void(Tensor& leaf)>;

struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  std::shared_ptr<Tensor> grad;               // accumulated gradient (leaves, or retain_grad())
  std::shared_ptr<autograd::Node> grad_fn;    // the op that made this tensor; null for leaves
  uint32_t output_nr = 0;                     // which output of grad_fn this tensor is
  std::weak_ptr<autograd::Node> grad_accumulator;  // one per leaf, shared by every use of it in a graph
  std::vector<PostAccumulateGradHook> post_accumulate_grad_hooks;
  std::shared_ptr<amp::CastCopy> cast_copy;  // a parameter's autocast copy (core/amp/cast_cache.h), or null
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::f32;
  std::unique_ptr<AutogradMeta> autograd;
  // Set by the view ops (view, reshape as a view, permute/transpose, slice/narrow/select, expand, squeeze,
  // unsqueeze), not by detach() or make_view: the tensor this one is a view of (the first base, for a view of a
  // view; weak, so a view does not keep its base's graph alive), and whether this view, or one it was made from,
  // was made with grad mode off. The in-place ops consult them as PyTorch's view metadata (CreationMeta).
  std::weak_ptr<TensorImpl> view_base;
  bool view_created_in_no_grad = false;
  bool view_base_required_grad = false;  // the base required grad when the no-grad view was made

  AutogradMeta& autograd_meta();  // creates it on first use
};

struct TensorOptions {
  DType dtype = DType::f32;
  Device device = default_device();
  bool requires_grad = false;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- metadata
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t size(int64_t dim) const;
  const Shape& strides() const;
  int64_t stride(int64_t dim) const;
  int64_t offset() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(dtype()); }
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  uint32_t version() const;  // bumped by every in-place write to the storage
  void bump_version() const;

  // --- raw data. raw_data() is element 0 of this view in the device's memory: an address for its backend, not
  // one the host may read unless the device is the CPU. data_ptr<T>() is the host's typed access, CPU tensors
  // only (T must match dtype()); item() and to_vector() copy from any device.
  void* raw_data() const;
  template <typename T> T* data_ptr() const {
    TESSERA_CHECK(dtype() == dtype_of<T>(), "data_ptr<", dtype_name(dtype_of<T>()), ">() on a ", dtype_name(dtype()),
                  " tensor");
    check_host_access("data_ptr");
    return static_cast<T*>(raw_data());
  }
  template <typename T> T item() const;                 // the single element, converted to T
  template <typename T> std::vector<T> to_vector() const;  // all elements in row-major order, converted to T
  // Throws unless the host may read this tensor's memory (a CPU tensor); `what` names the caller.
  void check_host_access(const char* what) const;

  // --- conversion and copies
  Tensor to(DType dtype) const;         // same tensor when dtype already matches
  // Same tensor when already there; differentiable. non_blocking, between a device and pinned host memory (a
  // pinned source, or a host result, which is then pinned): the copy is queued on the current stream and the call
  // returns at once, as PyTorch's; read the result, or reuse the pinned source, only after an Event recorded after
  // it has passed (core/stream.h). Otherwise the copy has ended when the call returns.
  Tensor to(Device device, bool non_blocking = false) const;
  bool is_pinned() const;           // CPU memory page-locked for an accelerator (empty_pinned)
  Tensor pin_memory(Device accelerator) const;  // a pinned copy (this tensor when already pinned)
  // The work queued on `stream` (of this tensor's device) uses this tensor's memory too, not only the stream that
  // allocated it: when the memory is freed it is handed out again only after that work has run (torch's
  // Tensor.record_stream), so code that reads a tensor on a side stream may let it go without waiting. On the CPU,
  // whose streams are names only, it does nothing.
  void record_stream(const Stream& stream) const;
  Tensor contiguous() const;            // same tensor when already contiguous
  Tensor clone() const;                 // new storage, contiguous, differentiable
  Tensor detach() const;                // shares storage, no autograd history

  // --- autograd
  bool requires_grad() const;
  Tensor& requires_grad_(bool flag = true);
  bool is_leaf() const;
  Tensor grad() const;  // undefined when none accumulated yet
  void set_grad(const Tensor& grad) const;  // undefined Tensor clears it (zero_grad(set_to_none))
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  void retain_grad() const;
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  // Runs after this leaf's .grad() has received its final value for the current backward (once per backward).
  void register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const;

  // --- views (share storage)
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // transpose(0, 1) of a 2-D tensor; a 0-D or 1-D one as it is (a new view); more dims: an error
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;

  // --- common ops as methods (the free functions in core/ops/*.h are the full API)
  Tensor sum() const;
  Tensor sum(const Shape& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const Shape& dims, bool keepdim = false) const;
  Tensor matmul(const Tensor& other) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor relu() const;

  // --- in-place (bump the version counter; not recorded by autograd)
  Tensor& zero_();
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& src);  // broadcasts src, converts dtype
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(double value);
  Tensor& mul_(const Tensor& other);  // other broadcasts into this tensor's shape

  std::string str() const;  // shape, dtype and (for small tensors) values

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& out, const Tensor& t);

// torch.result_type of two tensors, the dtype binary ops compute in: promote_types, except that a zero-dim tensor
// beside one with dimensions counts only by its category (promote_with_zero_dim).
DType result_type(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator-(const Tensor& a);

// A tensor with fresh storage (uninitialised), for kernels to fill.
Tensor empty(const Shape& shape, TensorOptions options = {});
// Uninitialised CPU memory page-locked for `accelerator` (PyTorch's pin_memory): copies between it and that device
// may be asynchronous (Tensor::to(device, non_blocking)).
Tensor empty_pinned(const Shape& shape, DType dtype, Device accelerator);
// Makes a new TensorImpl over existing storage (PyTorch's as_strided, without autograd: the view neither requires
// grad nor has a node, as detach()). Every element it reaches must lie in the storage (checked).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

namespace detail {
// Records to(dtype)'s autograd node making `out` (of another floating dtype) the conversion of `source`: for a
// conversion made without Tensor::to (autocast's cached casts, core/amp/cast_cache.h).
void record_dtype_conversion(const Tensor& source, const Tensor& out);
// The autograd checks of Tensor's in-place ops, for in-place ops outside Tensor (uniform_, normal_): with grad mode
// on, writing `t` (reading `src`, if given) is refused when either requires grad, as in-place ops are not recorded.
void check_inplace_allowed(const Tensor& t, const char* op, const Tensor* src = nullptr);
}  // namespace detail

}  // namespace tessera
