#pragma once
// The backward graph. Each differentiable op that needs gradients creates one Node holding what its backward
// needs; the node's next_edges point at the nodes of its inputs (or at the AccumulateGrad node of a leaf).
// Invariants:
//  - a leaf has exactly one AccumulateGrad node alive at a time (AutogradMeta::grad_accumulator), so every use of
//    the leaf in one graph feeds the same node, and its hooks fire once per backward with the final gradient;
//  - saved tensors are detached aliases stamped with the storage version at save time; unpacking them after an
//    in-place write, or after the graph was freed, is an error naming the op;
//  - backward functions run with grad mode off (no higher-order gradients).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tessera::autograd {

class Node;

struct Edge {
  std::shared_ptr<Node> node;  // null: this input needs no gradient
  uint32_t input_nr = 0;       // which input slot of `node` receives the gradient
  bool valid() const { return node != nullptr; }
};

// Shape and dtype of one input of the forward op, to check the gradient its backward returns.
struct InputMeta {
  Shape shape;
  DType dtype;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node() = default;
  // grads[i] is the gradient of forward output i (undefined when no gradient flowed to it).
  // Returns one gradient per next edge (undefined where that input needs none).
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grads) = 0;
  virtual void release_saved() {}
  virtual std::string name() const = 0;

  std::vector<Edge> next_edges;
  std::vector<InputMeta> input_meta;  // parallel to next_edges
  uint32_t num_outputs = 1;           // outputs of the forward op
  uint64_t sequence_nr;               // creation order; the engine runs later nodes first
  // Non-leaf outputs whose gradient the user asked to keep (retain_grad): output slot -> tensor.
  std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>> retained_outputs;
  bool needs_input_grad(size_t i) const { return i < next_edges.size() && next_edges[i].valid(); }
};

// A tensor kept for backward. Detached alias + the version its storage had when it was saved.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  Tensor unpack(const std::string& op) const;
  void release() { data_ = Tensor(); released_ = true; }
  bool defined() const { return data_.defined() || released_; }

 private:
  Tensor data_;
  uint32_t version_ = 0;
  bool released_ = false;
};

// Gives a leaf its gradient: stores it (first time) or adds into the existing .grad() in place, then runs the
// leaf's post-accumulate-grad hooks.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// The node of most ops: a backward function given the output gradients and the unpacked saved tensors.
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grads,
                                                     const std::vector<Tensor>& saved, const Node& self)>;

class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, std::vector<Tensor> saved, BackwardFn fn);
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  void release_saved() override;
  std::string name() const override { return name_; }

 private:
  std::string name_;
  std::vector<SavedTensor> saved_;
  BackwardFn fn_;
};

// True when grad mode is on and some input requires grad: the op must record a node.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Records the backward of an op: if any input requires grad (and grad mode is on), creates a FunctionNode
// named `name` ("MulBackward"), wires its edges to the inputs and makes it the grad_fn of every output.
// `saved` are unpacked (with version checks) and handed to `fn` in order. Returns the node, or null.
std::shared_ptr<Node> record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                             std::vector<Tensor> saved, BackwardFn fn);

// The edge through which a gradient reaches `t` (its grad_fn, or its leaf accumulator); invalid if none needed.
Edge gradient_edge(const Tensor& t);

// Runs backward from `roots` with seed gradients `grads` (undefined: ones, allowed only for scalars).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph);

// Gradients of `outputs` with respect to `inputs` (like torch.autograd.grad), leaving .grad() untouched. An input
// that gets no gradient (not used by the outputs) is an error naming it, unless `allow_unused`: then its gradient
// is undefined, PyTorch's None.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool allow_unused = false);

}  // namespace tessera::autograd
