#pragma once
// Builds an nn::Sequential from a JSON list of layer specs (the "model.layers" of a `tessera train` config),
// inferring each layer's input size from the data, as Keras does: Linear's in_features, Conv2d's in_channels,
// BatchNorm's num_features and LayerNorm's normalized_shape come from the output of the layer before.
//   [{"type": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1}, {"type": "relu"},
//    {"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]
// Each layer is run once on a zero batch of two samples (eval mode, no grad) to learn its output shape, so a
// spec that does not fit the data fails here, naming the layer ("model.layers[4] (linear)"), before training.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/generator.h"
#include "core/nn/container.h"

namespace tessera::model {

struct LayerSummary {
  std::string name;       // registered name in the Sequential ("0", "1", ...)
  std::string type;       // the spec's type ("conv2d")
  Shape output_shape;     // per sample (batch dimension left out)
  int64_t parameters = 0;
};

struct BuiltSequential {
  std::shared_ptr<nn::Sequential> module;
  Shape sample_shape;  // one input sample's shape
  std::vector<LayerSummary> layers;
};

// What build_sequential throws when a layer cannot take its input's shape (the message names the layer, its type
// and its input shape), as opposed to a bad key or value in a layer spec, which is a plain Error naming the key
// path: callers that know where the shape came from (the data's file and layout) add that to shape errors only.
class LayerShapeError : public Error {
 public:
  using Error::Error;
};

// `path` names `layers` in errors. Parameters are initialised from `gen`.
BuiltSequential build_sequential(const nlohmann::json& layers, const Shape& sample_shape,
                                 const std::string& path = "model.layers", Generator& gen = default_generator());

// The layer types build_sequential accepts, for help texts and errors.
const std::vector<std::string>& layer_types();

}  // namespace tessera::model
