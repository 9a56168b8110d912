#include "core/nn/container.h"

#include <typeinfo>

#include "core/nn/activation.h"
#include "core/nn/conv.h"
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
  Tensor x = input;  // an empty Sequential is the identity, as torch.nn.Sequential()
  for (size_t i = 0; i < size(); ++i) {
    // A Linear or Conv2d followed by a ReLU runs fused (linear_relu, conv2d_relu): clamped in place by the layer's
    // own backend call, one tensor less; a convolution with bias launches no ReLU kernel on a GPU.
    // Exact types only: a subclass may override forward (a scaled Linear, a capped ReLU), which fusing would skip.
    Module* layer = (*this)[i].get();
    const bool relu_next = i + 1 < size() && typeid(*(*this)[i + 1]) == typeid(ReLU);
    if (relu_next && typeid(*layer) == typeid(Linear)) {
      x = static_cast<Linear*>(layer)->forward_relu(x);
      ++i;
    } else if (relu_next && typeid(*layer) == typeid(Conv2d)) {
      x = static_cast<Conv2d*>(layer)->forward_relu(x);
      ++i;
    } else {
      x = layer->forward(x);
    }
  }
  return x;
}

}  // namespace tessera::nn
