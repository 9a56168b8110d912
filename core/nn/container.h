#pragma once
// Containers of modules indexed from 0: ModuleList (holds, no forward) and Sequential (forward chains its
// children in order). Children are registered under the names "0", "1", ..., so a Sequential's parameters are
// "0.weight", "0.bias", "2.weight", ... as in PyTorch. Modules are added as shared_ptrs (kept shared) or by value
// (moved into a new shared_ptr):
//   nn::Sequential net(nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 10));
//   auto fc = net.push_back(std::make_shared<nn::Linear>(10, 10));   // typed pointer back
#include <initializer_list>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/nn/module.h"

namespace tessera::nn {

template <typename M> struct is_module_ptr : std::false_type {};
template <typename M> struct is_module_ptr<std::shared_ptr<M>> : std::is_base_of<Module, M> {};
// What a container accepts: a module by value or a shared_ptr to one.
template <typename M>
concept ModuleArg = std::is_base_of_v<Module, std::decay_t<M>> || is_module_ptr<std::decay_t<M>>::value;

class ModuleList : public Module {
 public:
  ModuleList() = default;
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules);
  template <typename... Ms>
    requires(sizeof...(Ms) >= 1 && (ModuleArg<Ms> && ...) &&
             !(sizeof...(Ms) == 1 && (std::is_base_of_v<ModuleList, std::decay_t<Ms>> && ...)))
  explicit ModuleList(Ms&&... modules) {
    (push_back(std::forward<Ms>(modules)), ...);
  }

  // Appends under the name std::to_string(size()) and returns the typed pointer.
  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    auto typed = register_module(std::to_string(modules_.size()), std::move(module));
    modules_.push_back(typed);
    return typed;
  }
  template <typename M>
    requires std::is_base_of_v<Module, std::decay_t<M>>
  std::shared_ptr<std::decay_t<M>> push_back(M&& module) {
    return push_back(std::make_shared<std::decay_t<M>>(std::forward<M>(module)));
  }

  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  const std::shared_ptr<Module>& operator[](size_t index) const;  // error when out of range
  // The module at `index` as an M; error when out of range or of another type.
  template <typename M>
  std::shared_ptr<M> at(size_t index) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[index]);
    TESSERA_CHECK(typed != nullptr, type_name(), "::at(", index, "): the module is a ", (*this)[index]->type_name(),
                  ", not the requested type");
    return typed;
  }
  std::vector<std::shared_ptr<Module>>::const_iterator begin() const { return modules_.begin(); }
  std::vector<std::shared_ptr<Module>>::const_iterator end() const { return modules_.end(); }

  std::string type_name() const override { return "ModuleList"; }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

class Sequential : public ModuleList {
 public:
  using ModuleList::ModuleList;
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : ModuleList(modules) {}

  // Applies every child in order.
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Sequential"; }
};

}  // namespace tessera::nn
