#include "core/nn/container.h"

#include "core/nn/activation.h"
#include "core/nn/linear.h"

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
  for (size_t i = 0; i < size(); ++i) {
    // A Linear followed by a ReLU runs as one fused GEMM (its epilogue adds the bias and clamps): one kernel less.
    auto* linear = dynamic_cast<Linear*>((*this)[i].get());
    if (linear && i + 1 < size() && dynamic_cast<ReLU*>((*this)[i + 1].get())) {
      x = linear->forward_relu(x);
      ++i;
    } else {
      x = (*this)[i]->forward(x);
    }
  }
  return x;
}

}  // namespace tessera::nn
