#pragma once
// The models of the gpu_step benchmark, the same as gpu_step_torch.py builds on the PyTorch side: the MLP of
// cpu_step, the Fashion-MNIST CNN of configs/fashion_mnist_cnn.json (dropout included), and a wider CNN whose
// convolutions, not launches, dominate (4 conv layers of 128 channels).
#include <memory>
#include <string>

#include "launch/cli/bench_models.h"
#include "core/check.h"

namespace tessera::bench {

inline std::shared_ptr<nn::Sequential> make_fashion_cnn() {
  return std::make_shared<nn::Sequential>(
      nn::Conv2d({.in_channels = 1, .out_channels = 32, .kernel_size = 3, .padding = 1}), nn::ReLU(),
      nn::MaxPool2d(2), nn::Conv2d({.in_channels = 32, .out_channels = 64, .kernel_size = 3, .padding = 1}),
      nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(), nn::Dropout(0.25), nn::Linear(64 * 7 * 7, 128), nn::ReLU(),
      nn::Dropout(0.25), nn::Linear(128, 10));
}

inline std::shared_ptr<nn::Sequential> make_wide_cnn() {
  auto conv = [](int64_t in) {
    return nn::Conv2d({.in_channels = in, .out_channels = 128, .kernel_size = 3, .padding = 1});
  };
  return std::make_shared<nn::Sequential>(conv(1), nn::ReLU(), conv(128), nn::ReLU(), nn::MaxPool2d(2), conv(128),
                                          nn::ReLU(), conv(128), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
                                          nn::Linear(128 * 7 * 7, 10));
}

inline std::shared_ptr<nn::Sequential> make_gpu_step_model(const std::string& name) {
  if (name == "mlp") return make_cpu_step_mlp();
  if (name == "cnn") return make_fashion_cnn();
  if (name == "wide_cnn") return make_wide_cnn();
  TESSERA_THROW("gpu_step: unknown model '", name, "' (expected mlp, cnn or wide_cnn)");
}

}  // namespace tessera::bench
