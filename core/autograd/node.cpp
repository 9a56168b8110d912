#include "core/autograd/node.h"

#include <atomic>

#include "core/autograd/grad_mode.h"

namespace tessera::autograd {

namespace {
std::atomic<uint64_t> next_sequence_nr{0};
}

Node::Node() : sequence_nr(next_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {}

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  data_ = t.detach();
  version_ = t.version();
}

Tensor SavedTensor::unpack(const std::string& op) const {
  TESSERA_CHECK(!released_, "Trying to backward through the graph a second time (in ", op,
                "): its saved tensors were freed after the first backward. Pass retain_graph=true to the first "
                "backward() if you need to backward twice.");
  if (!data_.defined()) return data_;
  TESSERA_CHECK(data_.version() == version_, "one of the tensors needed by ", op, " (shape ", shape_str(data_.shape()),
                ", ", dtype_name(data_.dtype()), ") has been modified by an in-place operation: it is at version ",
                data_.version(), ", expected version ", version_, ".");
  return data_;
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {
  // Leaves run as soon as they are ready (PyTorch gives them the highest priority): their hooks start the
  // data-parallel all-reduce, so the earlier the better.
  sequence_nr = UINT64_MAX;
  input_meta.push_back({leaf_->shape, leaf_->dtype});
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  Tensor& incoming = grads[0];
  if (!incoming.defined()) return {};
  AutogradMeta& meta = leaf_->autograd_meta();
  if (!meta.grad || !meta.grad->defined()) {
    // A contiguous buffer the leaf owns alone: later accumulations add into it in place, so views of it
    // (data-parallel buckets) stay valid. The incoming gradient is that buffer already when nothing else holds it
    // (the usual case: an op's fresh output), as PyTorch steals it; a copy would cost one more pass over every
    // gradient each step (25 MB for the wide MLP: 1.2-2.4 ms).
    const bool sole_owner = incoming.impl_ptr().use_count() == 1 && incoming.impl()->storage.use_count() == 1 &&
                            incoming.offset() == 0 && incoming.is_contiguous() && !incoming.requires_grad() &&
                            incoming.impl()->storage->nbytes() == incoming.nbytes();
    meta.grad = std::make_shared<Tensor>(sole_owner ? incoming.detach() : incoming.detach().clone());
  } else {
    meta.grad->add_(incoming);
  }
  Tensor leaf(leaf_);
  for (auto& hook : meta.post_accumulate_grad_hooks) hook(leaf);
  return {};
}

FunctionNode::FunctionNode(std::string name, std::vector<Tensor> saved, BackwardFn fn)
    : name_(std::move(name)), fn_(std::move(fn)) {
  saved_.reserve(saved.size());
  for (const Tensor& t : saved) saved_.emplace_back(t);
}

std::vector<Tensor> FunctionNode::apply(std::vector<Tensor>&& grads) {
  bool any_grad = false;
  for (const Tensor& g : grads) any_grad = any_grad || g.defined();
  if (!any_grad) return std::vector<Tensor>(next_edges.size());
  std::vector<Tensor> unpacked;
  unpacked.reserve(saved_.size());
  for (const SavedTensor& s : saved_) unpacked.push_back(s.unpack(name_));
  return fn_(grads, unpacked, *this);
}

void FunctionNode::release_saved() {
  for (SavedTensor& s : saved_) s.release();
}

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  AutogradMeta& meta = t.impl()->autograd_meta();
  if (meta.grad_fn) return {meta.grad_fn, meta.output_nr};
  std::shared_ptr<Node> accumulator = meta.grad_accumulator.lock();
  if (!accumulator) {
    accumulator = std::make_shared<AccumulateGrad>(t.impl_ptr());
    meta.grad_accumulator = accumulator;
  }
  return {accumulator, 0};
}

std::shared_ptr<Node> record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                             std::vector<Tensor> saved, BackwardFn fn) {
  if (!any_requires_grad(inputs)) return nullptr;
  auto node = std::make_shared<FunctionNode>(name, std::move(saved), std::move(fn));
  node->next_edges.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    node->next_edges.push_back(gradient_edge(input));
    node->input_meta.push_back(input.defined() ? InputMeta{input.shape(), input.dtype()} : InputMeta{{}, DType::f32});
  }
  node->num_outputs = static_cast<uint32_t>(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].defined() || !is_floating(outputs[i].dtype())) continue;  // indices etc. get no gradient
    AutogradMeta& meta = outputs[i].impl()->autograd_meta();
    meta.requires_grad = true;
    meta.grad_fn = node;
    meta.output_nr = static_cast<uint32_t>(i);
  }
  return node;
}

}  // namespace tessera::autograd
