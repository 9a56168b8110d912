#pragma once
// A trained Sequential as an ONNX model (opset 17, IR 8: what onnxruntime and ONNX 1.12 read), for serving it
// outside Tessera. Built with ONNX's own protobuf classes (libonnx-dev); compiled only where they were found
// (onnx_export_available()).
//
// The graph takes "x", float32 (N, sample shape...) as the model sees its samples (after data.scale, mean and std
// and the layout transpose: the exported model is the network, not the loader; OnnxPreprocessing puts those in
// front), and returns "outputs" as Model's forward in eval mode does. Layers: linear (MatMul + Add), conv2d (Conv), maxpool2d (MaxPool), avgpool2d
// (AveragePool), batchnorm1d/2d (BatchNormalization with the running statistics), layernorm (LayerNormalization),
// flatten (Flatten), dropout (nothing: inference), relu, tanh, sigmoid, gelu (from Erf or Tanh: Gelu is opset 20).
// Anything else is an error naming the layer.
#include <optional>
#include <string>
#include <vector>

#include "core/nn/module.h"
#include "core/tensor.h"

namespace tessera::cli {

bool onnx_export_available();
// "ONNX 1.12.0 (opset 17)", or "not built (libonnx-dev ...)", for `tessera --version`.
std::string onnx_export_version();

// What the loader does to a sample before the model sees it, put in front of the network on request
// (`--with-preprocessing`): the graph then takes samples as the data files store them (as float32).
struct OnnxPreprocessing {
  Shape stored_sample;                     // as in the files: (H, W, C) for channels-last images
  bool channels_last = false;              // transpose (N, H, W, C) to (N, C, H, W) first
  std::vector<double> multipliers, offsets;  // per entry of dim 1: value * multiplier + offset (io::RowConverter)
};

// Writes `model` (a Sequential, as `tessera train` builds) taking samples of `sample_shape` to `path`, atomically;
// with `preprocessing`, the graph's input is the stored sample and the preprocessing comes first.
void export_onnx(const nn::Module& model, const Shape& sample_shape, const std::string& path,
                 const std::string& producer_note, const std::optional<OnnxPreprocessing>& preprocessing = {});

}  // namespace tessera::cli
