#pragma once
// nn::Module: the base of every layer and model, like torch.nn.Module. A module owns named parameters, buffers
// and child modules, each registered once under a name without dots. Invariants:
//  - every listing (named_parameters, named_buffers, named_children, named_modules, state_dict) follows
//    registration order, recursively depth-first with dotted names ("features.conv1.weight"), so it is the same
//    on every process that builds the same model: data parallelism and checkpoints rely on it;
//  - a tensor (or module) registered under two names, e.g. tied embedding weights, is listed once by
//    named_parameters/named_buffers/named_modules (first name wins), but appears under both names in state_dict;
//  - load_state_dict and to() change tensors in place (same TensorImpl), so handles that layers keep in members
//    stay valid.
// Modules are held by std::shared_ptr (register_module, Sequential). Copying a module copies handles: the copy
// shares its tensors with the original.
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/nn/state_dict.h"
#include "core/tensor.h"

namespace tessera::nn {

class Module;
template <typename T> using Named = std::vector<std::pair<std::string, T>>;

class Module {
 public:
  Module() = default;
  Module(const Module&) = default;
  Module(Module&&) = default;
  Module& operator=(const Module&) = default;
  Module& operator=(Module&&) = default;
  virtual ~Module() = default;

  // The layer's computation. The default throws: modules whose forward takes other inputs define their own method.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // --- registration (names must be non-empty, without '.', unique within this module)
  // Marks `tensor` as requiring grad (or not) and returns it.
  Tensor register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  // Non-persistent buffers are not part of state_dict.
  Tensor register_buffer(std::string name, Tensor tensor, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module, M>, "register_module: M must derive from nn::Module");
    add_child(std::move(name), module);
    return module;
  }
  template <typename M>
    requires std::is_base_of_v<Module, std::decay_t<M>>
  std::shared_ptr<std::decay_t<M>> register_module(std::string name, M&& module) {
    return register_module(std::move(name), std::make_shared<std::decay_t<M>>(std::forward<M>(module)));
  }

  // --- listings, in registration order (see the invariants above)
  Named<Tensor> named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  Named<Tensor> named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  Named<std::shared_ptr<Module>> named_children() const { return children_; }
  std::vector<std::shared_ptr<Module>> children() const;
  // This module first (name ""), then every descendant with its dotted name. Pointers live as long as the root.
  Named<Module*> named_modules();
  // Total elements over parameters(); only those that require grad when trainable_only.
  int64_t num_parameters(bool trainable_only = false) const;

  // --- mode
  // Sets this module's mode, then calls train(on) on every child, as PyTorch's Module.train: a layer may override it
  // (call the base, then e.g. keep a frozen BatchNorm in eval) and its parent's train() respects that.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Calls fn on every descendant (children first, depth-first in registration order), then on this module, like
  // PyTorch's Module.apply; e.g. a custom initialisation of every Linear.
  void apply(const std::function<void(Module&)>& fn);

  // Clears (set_to_none) or zeroes every parameter's gradient.
  void zero_grad(bool set_to_none = true);

  // --- state
  // Parameters and persistent buffers by dotted name (detached handles sharing storage with the module).
  StateDict state_dict() const;
  struct LoadResult {
    std::vector<std::string> missing_keys;
    std::vector<std::string> unexpected_keys;
  };
  // Copies every entry into the module's tensor in place (no-grad, converting dtype). Shape mismatches are always
  // errors; missing and unexpected keys are errors when strict, else reported in the result. Nothing is copied
  // when there is an error; the error lists every problem, naming keys and both shapes.
  LoadResult load_state_dict(const StateDict& state, bool strict = true);

  // Converts every floating parameter and buffer to `dtype` (or moves every tensor to `device`) in place, dropping
  // gradients. Build optimizers after calling this: their state refers to the old tensors.
  void to(DType dtype);
  void to(Device device);

  // --- description, like PyTorch's repr: "Linear(in_features=784, out_features=256, bias=true)", containers list
  // their children on indented lines.
  std::string str() const;
  // The class name without namespaces (demangled), unless a layer overrides it.
  virtual std::string type_name() const;
  // The text between the parentheses of a layer's description.
  virtual std::string extra_repr() const { return ""; }

 protected:
  bool training_ = true;

 private:
  struct Buffer {
    std::string name;
    Tensor tensor;
    bool persistent = true;
  };
  void check_new_name(const std::string& name, const char* what) const;
  void add_child(std::string name, std::shared_ptr<Module> module);
  // Calls f(prefix, module) for this module and every descendant, depth-first in registration order.
  template <typename F> void visit(const std::string& prefix, F&& f) const;
  template <typename F> void for_each_tensor(F&& f);

  Named<Tensor> parameters_;
  std::vector<Buffer> buffers_;
  Named<std::shared_ptr<Module>> children_;
};

std::ostream& operator<<(std::ostream& out, const Module& module);

}  // namespace tessera::nn
