#pragma once
// A Keras-style model summary: one row per layer with its output shape and parameter count, then totals.
//   Layer (type)             Output Shape           Param #
//   0 (conv2d)               (N, 32, 28, 28)            320
//   ...
//   Total params: 62,730 (245.04 KiB)
// Sizes count f32 parameters.
#include <string>

#include "core/model/sequential_builder.h"

namespace tessera::model {

std::string summary(const BuiltSequential& model);
// A module of one's own (Keras's summary of a subclassed model): one row per direct child and its parameters, the
// module's own parameters in a row of their own; output shapes unknown ("?"), as Keras shows an unbuilt layer's.
std::string summary(const nn::Module& module);

}  // namespace tessera::model
