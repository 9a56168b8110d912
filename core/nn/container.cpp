#include "core/nn/container.h"

namespace tessera::nn {

ModuleList::ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

const std::shared_ptr<Module>& ModuleList::operator[](size_t index) const {
  TESSERA_CHECK(index < modules_.size(), type_name(), "[", index, "]: index out of range for ", modules_.size(),
                " modules");
  return modules_[index];
}

Tensor Sequential::forward(const Tensor& input) {
  TESSERA_CHECK(!empty(), "Sequential::forward: the Sequential is empty");
  Tensor x = input;
  for (const auto& m : *this) x = m->forward(x);
  return x;
}

}  // namespace tessera::nn
