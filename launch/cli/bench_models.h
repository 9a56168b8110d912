#pragma once
// The models of the cpu_step benchmark: an MLP 784-256-128-10 and a small CNN on 1x28x28 inputs (the same as
// tests/torch_ref/models.py on the PyTorch side). Shared with `tessera bench ddp`, which times the same CNN under
// data parallelism.
#include <memory>

#include "core/nn/nn.h"

namespace tessera::bench {

inline std::shared_ptr<nn::Sequential> make_cpu_step_mlp() {
  return std::make_shared<nn::Sequential>(nn::Flatten(), nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 128),
                                          nn::ReLU(), nn::Linear(128, 10));
}

inline std::shared_ptr<nn::Sequential> make_cpu_step_cnn() {
  return std::make_shared<nn::Sequential>(
      nn::Conv2d({.in_channels = 1, .out_channels = 32, .kernel_size = 3, .padding = 1}), nn::ReLU(),
      nn::MaxPool2d(2), nn::Conv2d({.in_channels = 32, .out_channels = 64, .kernel_size = 3, .padding = 1}),
      nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(), nn::Linear(64 * 7 * 7, 128), nn::ReLU(), nn::Linear(128, 10));
}

}  // namespace tessera::bench
