#pragma once
// A Keras-style model summary: one row per layer with its output shape and parameter count, then totals.
//   Layer (type)             Output Shape           Param #
//   0 (conv2d)               (N, 32, 28, 28)            320
//   ...
//   Total params: 62,730 (245.04 KiB)
#include <string>

#include "core/model/sequential_builder.h"

namespace tessera::model {

std::string summary(const BuiltSequential& model);

}  // namespace tessera::model
