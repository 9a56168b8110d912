#include "core/nn/module.h"

#include <cxxabi.h>

#include <cstdlib>
#include <sstream>
#include <typeinfo>
#include <unordered_set>

#include "core/autograd/grad_mode.h"

namespace tessera::nn {

namespace {
std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::string quoted_list(const std::vector<std::string>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) out += (i ? ", \"" : "\"") + keys[i] + "\"";
  return out;
}

// Points every handle of `t` (same TensorImpl) at `replacement`'s data, so members holding t see the change.
void replace_in_place(const Tensor& t, const Tensor& replacement) {
  TensorImpl* impl = t.impl();
  const TensorImpl* src = replacement.impl();
  impl->storage = src->storage;
  impl->shape = src->shape;
  impl->strides = src->strides;
  impl->offset = src->offset;
  impl->dtype = src->dtype;
  if (impl->autograd) impl->autograd->grad.reset();
}
}  // namespace

Tensor Module::forward(const Tensor&) {
  TESSERA_THROW(type_name(), ": forward(const Tensor&) is not implemented by this module");
}

void Module::check_new_name(const std::string& name, const char* what) const {
  TESSERA_CHECK(!name.empty(), type_name(), ": ", what, " name must not be empty");
  TESSERA_CHECK(name.find('.') == std::string::npos, type_name(), ": ", what, " name \"", name,
                "\" must not contain '.'");
  bool taken = false;
  for (const auto& [n, t] : parameters_) taken |= n == name;
  for (const Buffer& b : buffers_) taken |= b.name == name;
  for (const auto& [n, m] : children_) taken |= n == name;
  TESSERA_CHECK(!taken, type_name(), ": cannot register ", what, " \"", name, "\": the name is already in use");
}

Tensor Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  check_new_name(name, "parameter");
  TESSERA_CHECK(tensor.defined(), type_name(), ": parameter \"", name, "\" is an undefined tensor");
  TESSERA_CHECK(tensor.is_leaf(), type_name(), ": parameter \"", name,
                "\" must be a leaf tensor (detach() it, or create it under NoGradGuard)");
  tensor.requires_grad_(requires_grad);
  parameters_.emplace_back(std::move(name), tensor);
  return tensor;
}

Tensor Module::register_buffer(std::string name, Tensor tensor, bool persistent) {
  check_new_name(name, "buffer");
  TESSERA_CHECK(tensor.defined(), type_name(), ": buffer \"", name, "\" is an undefined tensor");
  buffers_.push_back({std::move(name), tensor, persistent});
  return tensor;
}

void Module::add_child(std::string name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  TESSERA_CHECK(module != nullptr, type_name(), ": submodule \"", name, "\" is null");
  TESSERA_CHECK(module.get() != this, type_name(), ": a module cannot be its own child (\"", name, "\")");
  children_.emplace_back(std::move(name), std::move(module));
}

template <typename F>
void Module::visit(const std::string& prefix, F&& f) const {
  f(prefix, *this);
  for (const auto& [name, child] : children_) child->visit(join_name(prefix, name), f);
}

Named<Tensor> Module::named_parameters(bool recurse) const {
  Named<Tensor> out;
  std::unordered_set<const TensorImpl*> seen;
  auto collect = [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, t] : m.parameters_)
      if (seen.insert(t.impl()).second) out.emplace_back(join_name(prefix, name), t);
  };
  if (recurse) visit("", collect);
  else collect("", *this);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

Named<Tensor> Module::named_buffers(bool recurse) const {
  Named<Tensor> out;
  std::unordered_set<const TensorImpl*> seen;
  auto collect = [&](const std::string& prefix, const Module& m) {
    for (const Buffer& b : m.buffers_)
      if (seen.insert(b.tensor.impl()).second) out.emplace_back(join_name(prefix, b.name), b.tensor);
  };
  if (recurse) visit("", collect);
  else collect("", *this);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [name, child] : children_) out.push_back(child);
  return out;
}

Named<Module*> Module::named_modules() {
  Named<Module*> out;
  std::unordered_set<const Module*> seen;
  visit("", [&](const std::string& prefix, const Module& m) {
    if (seen.insert(&m).second) out.emplace_back(prefix, const_cast<Module*>(&m));
  });
  return out;
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t total = 0;
  for (const Tensor& p : parameters())
    if (!trainable_only || p.requires_grad()) total += p.numel();
  return total;
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& [name, child] : children_) child->train(on);
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (const auto& [name, child] : children_) child->apply(fn);
  fn(*this);
}

void Module::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (const Tensor& p : parameters()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) p.set_grad(Tensor());
    else g.zero_();
  }
}

StateDict Module::state_dict() const {
  StateDict out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, t] : m.parameters_) out.insert(join_name(prefix, name), t.detach());
    for (const Buffer& b : m.buffers_)
      if (b.persistent) out.insert(join_name(prefix, b.name), b.tensor.detach());
  });
  return out;
}

Module::LoadResult Module::load_state_dict(const StateDict& state, bool strict) {
  const StateDict own = state_dict();
  LoadResult result;
  std::vector<std::string> mismatches;
  for (const auto& [key, target] : own) {
    const Tensor* src = state.find(key);
    if (src == nullptr) {
      result.missing_keys.push_back(key);
    } else if (src->shape() != target.shape()) {
      mismatches.push_back("size mismatch for \"" + key + "\": shape " + shape_str(src->shape()) +
                           " in the state dict, " + shape_str(target.shape()) + " in the model");
    }
  }
  for (const auto& [key, value] : state)
    if (!own.contains(key)) result.unexpected_keys.push_back(key);

  std::vector<std::string> problems;
  if (strict && !result.missing_keys.empty()) problems.push_back("missing key(s) " + quoted_list(result.missing_keys));
  if (strict && !result.unexpected_keys.empty())
    problems.push_back("unexpected key(s) " + quoted_list(result.unexpected_keys));
  problems.insert(problems.end(), mismatches.begin(), mismatches.end());
  if (!problems.empty()) {
    std::string message = "load_state_dict: error(s) loading the state dict of " + type_name() + ":";
    for (const std::string& p : problems) message += "\n  " + p;
    TESSERA_THROW(message);
  }

  NoGradGuard no_grad;
  for (const auto& [key, target] : own)
    if (const Tensor* src = state.find(key)) Tensor(target).copy_(*src);  // target: detached, module's storage
  return result;
}

template <typename F>
void Module::for_each_tensor(F&& f) {
  std::unordered_set<const TensorImpl*> seen;
  visit("", [&](const std::string&, const Module& m) {
    for (const auto& [name, t] : m.parameters_)
      if (seen.insert(t.impl()).second) f(t);
    for (const Buffer& b : m.buffers_)
      if (seen.insert(b.tensor.impl()).second) f(b.tensor);
  });
}

void Module::to(DType dtype) {
  NoGradGuard no_grad;
  for_each_tensor([&](const Tensor& t) {
    if (t.is_floating_point() && t.dtype() != dtype) replace_in_place(t, t.detach().to(dtype).contiguous());
  });
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  for_each_tensor([&](const Tensor& t) {
    if (t.device() != device) replace_in_place(t, t.detach().to(device));
  });
}

std::string Module::type_name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  const size_t template_start = name.find('<');
  const size_t colon = name.rfind("::", template_start);
  return colon == std::string::npos ? name : name.substr(colon + 2);
}

std::string Module::str() const {
  std::vector<std::string> lines;
  const std::string extra = extra_repr();
  if (!extra.empty()) {
    std::istringstream in(extra);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  for (const auto& [name, child] : children_) {
    std::string text = child->str();
    std::string indented;
    for (char c : text) indented += c == '\n' ? std::string("\n  ") : std::string(1, c);
    lines.push_back("(" + name + "): " + indented);
  }
  if (children_.empty()) return type_name() + "(" + extra + ")";
  std::string out = type_name() + "(";
  for (const std::string& line : lines) out += "\n  " + line;
  return out + "\n)";
}

std::ostream& operator<<(std::ostream& out, const Module& module) { return out << module.str(); }

}  // namespace tessera::nn
