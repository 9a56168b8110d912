#pragma once
// The models of `tessera bench` and the benchmarks/cpu_step program: an MLP 784-256-128-10, a small CNN on 1x28x28
// inputs, and an MLP with layer norms and GELUs (the same as tests/torch_ref/models.py on the PyTorch side). Here in
// launch/, not benchmarks/, since `tessera bench ddp` and `bench loader` time the same CNN, and launch/ must not
// depend on the folder below it.
#include <memory>
#include <string>

#include "core/check.h"
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

// A transformer block's feed-forward shape: each layer norm's backward (input, weight and bias gradients) is timed
// against PyTorch's.
inline std::shared_ptr<nn::Sequential> make_cpu_step_ln_mlp() {
  return std::make_shared<nn::Sequential>(nn::Flatten(), nn::Linear(784, 256), nn::LayerNorm(Shape{256}), nn::GELU(),
                                          nn::Linear(256, 256), nn::LayerNorm(Shape{256}), nn::GELU(),
                                          nn::Linear(256, 10));
}

inline std::shared_ptr<nn::Sequential> make_cpu_step_model(const std::string& name) {
  if (name == "mlp") return make_cpu_step_mlp();
  if (name == "cnn") return make_cpu_step_cnn();
  if (name == "ln_mlp") return make_cpu_step_ln_mlp();
  TESSERA_THROW("cpu_step: unknown model '", name, "' (expected mlp, cnn or ln_mlp)");
}

}  // namespace tessera::bench
