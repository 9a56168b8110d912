// The backward engine: a dependency-counted walk of the graph from the roots. A node runs when every edge into
// it has delivered its gradient; among ready nodes, the most recently created runs first (sequence_nr), and
// AccumulateGrad nodes run at once, so leaf hooks fire as early as possible (the data-parallel reducer's cue).
#include <queue>
#include <unordered_map>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"

namespace tessera::autograd {

namespace {

struct ReadyOrder {
  bool operator()(const Node* a, const Node* b) const { return a->sequence_nr < b->sequence_nr; }
};

void accumulate_into(Tensor& slot, const Tensor& grad) {
  if (!grad.defined()) return;
  slot = slot.defined() ? slot + grad : grad;
}

// The gradient as its input takes it: the input's shape (checked) and dtype. A backward run inside an autocast
// region computes GEMMs in bf16/f16 and hands an f32 input a bf16/f16 gradient; PyTorch's engine
// (validate_outputs) converts it to the input's dtype, so f32 leaves still get f32 .grad.
Tensor checked_gradient(const Node& node, size_t i, const Tensor& grad) {
  const InputMeta& meta = node.input_meta[i];
  TESSERA_CHECK(grad.shape() == meta.shape, "Function ", node.name(), " returned an invalid gradient at index ", i,
                ": got shape ", shape_str(grad.shape()), " but expected shape ", shape_str(meta.shape));
  return grad.dtype() != meta.dtype && is_floating(grad.dtype()) && is_floating(meta.dtype) ? grad.to(meta.dtype)
                                                                                            : grad;
}

struct GraphTask {
  std::unordered_map<Node*, int> dependencies;
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  // Capture mode (autograd::grad): gradients arriving at these edges are stored, not accumulated into leaves.
  std::unordered_map<Node*, std::vector<std::pair<uint32_t, size_t>>> captures;
  std::vector<Tensor> captured;
  bool capture_mode = false;
  // Capture mode: the nodes through which a gradient reaches a captured edge (PyTorch's exec_info). Only they run:
  // autograd::grad neither computes nor frees (nor version-checks) the graph below its inputs.
  std::unordered_map<Node*, bool> needed;
};

void count_dependencies(GraphTask& task, const std::vector<Edge>& roots) {
  std::vector<Node*> stack;
  std::unordered_map<Node*, bool> seen;
  for (const Edge& e : roots) {
    if (e.valid() && !seen[e.node.get()]) {
      seen[e.node.get()] = true;
      stack.push_back(e.node.get());
    }
  }
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const Edge& e : node->next_edges) {
      if (!e.valid()) continue;
      task.dependencies[e.node.get()] += 1;
      if (!seen[e.node.get()]) {
        seen[e.node.get()] = true;
        stack.push_back(e.node.get());
      }
    }
  }
}

// Marks task.needed for every node reachable from `roots` (iterative post-order walk: graphs may be deep).
void mark_needed(GraphTask& task, const std::vector<Edge>& roots) {
  std::unordered_map<Node*, bool> visited;
  std::vector<std::pair<Node*, size_t>> stack;  // node, next edge to visit
  for (const Edge& root : roots) {
    if (!root.valid() || visited[root.node.get()]) continue;
    visited[root.node.get()] = true;
    stack.emplace_back(root.node.get(), 0);
    while (!stack.empty()) {
      Node* node = stack.back().first;
      const size_t next = stack.back().second++;
      if (next < node->next_edges.size()) {
        Node* child = node->next_edges[next].node.get();
        if (child && !visited[child]) {
          visited[child] = true;
          stack.emplace_back(child, 0);
        }
        continue;
      }
      bool needed = false;
      for (const Edge& e : node->next_edges)
        needed = needed || (e.valid() && (task.captures.count(e.node.get()) > 0 || task.needed[e.node.get()]));
      task.needed[node] = needed;
      stack.pop_back();
    }
  }
}

std::vector<Tensor>& buffer_of(GraphTask& task, Node* node) {
  auto& buffer = task.buffers[node];
  if (buffer.empty()) buffer.resize(std::max<size_t>(node->num_outputs, 1));
  return buffer;
}

void execute(GraphTask& task, const std::vector<Edge>& roots, const std::vector<Tensor>& seeds, bool retain_graph) {
  count_dependencies(task, roots);
  std::priority_queue<Node*, std::vector<Node*>, ReadyOrder> ready;
  std::vector<std::shared_ptr<Node>> executed;  // keeps nodes alive until the walk is over
  for (size_t i = 0; i < roots.size(); ++i) {
    if (!roots[i].valid()) continue;
    accumulate_into(buffer_of(task, roots[i].node.get())[roots[i].input_nr], seeds[i]);
  }
  for (const Edge& e : roots)
    if (e.valid() && task.dependencies[e.node.get()] == 0) {
      task.dependencies[e.node.get()] = -1;  // queued
      ready.push(e.node.get());
    }

  NoGradGuard no_grad;
  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    std::vector<Tensor> inputs = std::move(buffer_of(task, node));
    task.buffers.erase(node);
    executed.push_back(node->shared_from_this());

    if (auto it = task.captures.find(node); it != task.captures.end())
      for (auto [input_nr, slot] : it->second) accumulate_into(task.captured[slot], inputs[input_nr]);
    // A retained gradient accumulates across backward calls, as a leaf's does (PyTorch's retain_grad hook:
    // grad = grad + new_grad, out of place, so a .grad() the caller holds keeps its value).
    for (auto& [slot, weak] : node->retained_outputs)
      if (auto impl = weak.lock(); impl && inputs[slot].defined()) {
        std::shared_ptr<Tensor>& retained = impl->autograd_meta().grad;
        retained = std::make_shared<Tensor>(retained && retained->defined() ? *retained + inputs[slot]
                                                                           : inputs[slot].clone());
      }
    if (task.capture_mode && !task.needed[node]) continue;  // leaves, and nodes below every captured input

    std::vector<Tensor> outputs = node->apply(std::move(inputs));
    if (!retain_graph) node->release_saved();
    TESSERA_CHECK(outputs.size() == node->next_edges.size() || dynamic_cast<AccumulateGrad*>(node) != nullptr,
                  "Function ", node->name(), " returned ", outputs.size(), " gradients, expected ",
                  node->next_edges.size());
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& edge = node->next_edges[i];
      if (!edge.valid()) continue;
      if (outputs[i].defined())
        accumulate_into(buffer_of(task, edge.node.get())[edge.input_nr], checked_gradient(*node, i, outputs[i]));
      int& pending = task.dependencies[edge.node.get()];
      if (--pending == 0) {
        pending = -1;
        ready.push(edge.node.get());
      }
    }
  }
}

std::vector<Edge> root_edges(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                             std::vector<Tensor>& seeds) {
  TESSERA_CHECK(grads.empty() || grads.size() == roots.size(), "backward: got ", grads.size(), " gradients for ",
                roots.size(), " tensors");
  std::vector<Edge> edges;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    TESSERA_CHECK(root.defined(), "backward: tensor ", i, " is undefined");
    TESSERA_CHECK(root.requires_grad(), "element ", i,
                  " of tensors does not require grad and does not have a grad_fn (shape ", shape_str(root.shape()),
                  ")");
    Tensor seed = grads.empty() ? Tensor() : grads[i];
    if (!seed.defined()) {
      TESSERA_CHECK(root.numel() == 1, "grad can be implicitly created only for scalar outputs; backward() was "
                    "called on a tensor of shape ", shape_str(root.shape()), " without a gradient");
      seed = empty(root.shape(), {.dtype = root.dtype(), .device = root.device()}).fill_(1.0);
    }
    TESSERA_CHECK(seed.shape() == root.shape(), "backward: gradient of shape ", shape_str(seed.shape()),
                  " does not match the tensor's shape ", shape_str(root.shape()));
    // In the root's dtype, as PyTorch's engine gives it (validate_outputs): a leaf root's .grad keeps its dtype.
    if (seed.dtype() != root.dtype() && is_floating(seed.dtype())) seed = seed.detach().to(root.dtype());
    seeds.push_back(seed);
    edges.push_back(gradient_edge(root));
  }
  return edges;
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph) {
  std::vector<Tensor> seeds;
  std::vector<Edge> edges = root_edges(roots, grads, seeds);
  GraphTask task;
  execute(task, edges, seeds, retain_graph);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph, bool allow_unused) {
  std::vector<Tensor> seeds;
  std::vector<Edge> edges = root_edges(outputs, grad_outputs, seeds);
  GraphTask task;
  task.capture_mode = true;
  task.captured.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    Edge e = gradient_edge(inputs[i]);
    TESSERA_CHECK(e.valid(), "autograd::grad: input ", i, " does not require grad");
    task.captures[e.node.get()].emplace_back(e.input_nr, i);
  }
  mark_needed(task, edges);
  execute(task, edges, seeds, retain_graph);
  for (size_t i = 0; i < inputs.size() && !allow_unused; ++i)
    TESSERA_CHECK(task.captured[i].defined(), "autograd::grad: input ", i, " (shape ", shape_str(inputs[i].shape()),
                  ") was not used in the graph of the outputs; pass allow_unused = true to get an undefined "
                  "gradient for it");
  return task.captured;
}

}  // namespace tessera::autograd
