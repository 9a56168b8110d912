#include "core/model/layer_reference.h"

#include <map>
#include <sstream>

#include "core/check.h"
#include "core/model/config_schema.h"
#include "core/model/sequential_builder.h"

namespace tessera::model {

namespace {

struct LayerDoc {
  std::string summary;   // what the layer is (its PyTorch module) and the input it takes
  nlohmann::json example;  // the required keys, so the builder reads every key and records each default
  Shape input;           // a sample shape the example fits
};

const Shape kImage = {3, 8, 8};
const Shape kFeatures = {6};

const std::map<std::string, LayerDoc>& layer_docs() {
  static const std::map<std::string, LayerDoc> docs = {
      {"linear", {"`nn.Linear`; in_features from the input, (N, features) or (N, T, features).",
                  {{"out_features", 4}}, kFeatures}},
      {"conv2d", {"`nn.Conv2d`; in_channels from the input, images (N, C, H, W).",
                  {{"out_channels", 4}, {"kernel_size", 3}}, kImage}},
      {"maxpool2d", {"`nn.MaxPool2d` over images (N, C, H, W).", {{"kernel_size", 2}}, kImage}},
      {"avgpool2d", {"`nn.AvgPool2d` over images (N, C, H, W).", {{"kernel_size", 2}}, kImage}},
      {"adaptive_avg_pool2d", {"`nn.AdaptiveAvgPool2d`: averages images (N, C, H, W) down to output_size.",
                               {{"output_size", 1}}, kImage}},
      {"batchnorm2d", {"`nn.BatchNorm2d`; num_features from the input's channels, images (N, C, H, W).", {}, kImage}},
      {"batchnorm1d", {"`nn.BatchNorm1d`; num_features from the input, (N, C) or (N, C, L).", {}, kFeatures}},
      {"layernorm", {"`nn.LayerNorm` over the last dimension, whose size comes from the input.", {}, kFeatures}},
      {"dropout", {"`nn.Dropout`: zeroes each element with probability p in training, scales the rest by "
                   "1 / (1 - p).", {}, kFeatures}},
      {"flatten", {"`nn.Flatten`: (N, ...) to (N, features), before a linear layer.", {}, kImage}},
      {"relu", {"`nn.ReLU`.", {}, kFeatures}},
      {"leaky_relu", {"`nn.LeakyReLU`: x for x >= 0, negative_slope * x below.", {}, kFeatures}},
      {"gelu", {"`nn.GELU`.", {}, kFeatures}},
      {"tanh", {"`nn.Tanh`.", {}, kFeatures}},
      {"sigmoid", {"`nn.Sigmoid`.", {}, kFeatures}},
      {"silu", {"`nn.SiLU`: x * sigmoid(x), Keras's swish.", {}, kFeatures}},
  };
  return docs;
}

// One line per "<type>.<key>"; keys shared by several types under "*.<key>".
const std::map<std::string, std::string>& key_docs() {
  static const std::map<std::string, std::string> docs = {
      {"linear.out_features", "Output features."},
      {"*.bias", "Whether the layer adds a learned bias."},
      {"conv2d.out_channels", "Output channels."},
      {"*.kernel_size", "Window size: one integer, or [height, width]."},
      {"*.stride", "Step between windows: one integer or [height, width]; 0 (pooling): the kernel size."},
      {"*.padding", "Zeros (max pooling: -inf) added on each side: one integer or [height, width]."},
      {"conv2d.padding", "Zeros added on each side: one integer or [height, width]; or \"valid\" (none) or "
                         "\"same\" (the output keeps the input's size: stride 1, and an odd dilated kernel)."},
      {"conv2d.dilation", "Spacing between kernel elements: one integer or [height, width]."},
      {"conv2d.groups", "Blocked connections: in and out channels are split into this many groups."},
      {"*.ceil_mode", "Round the output size up, not down (a last, partial window)."},
      {"avgpool2d.count_include_pad", "Whether the padding zeros count in each average's divisor."},
      {"adaptive_avg_pool2d.output_size", "Output height and width: one integer or [height, width]."},
      {"*.eps", "Added to the variance before its square root."},
      {"*.momentum", "Weight of each batch in the running statistics; null: their cumulative average "
                     "(PyTorch's momentum=None)."},
      {"*.affine", "Whether the layer learns a scale and a shift per feature."},
      {"*.track_running_stats", "Whether the layer keeps running statistics for evaluation; false: batch "
                                "statistics in evaluation too."},
      {"layernorm.elementwise_affine", "Whether the layer learns a scale and a shift per feature."},
      {"dropout.p", "Probability of zeroing an element, in [0, 1)."},
      {"leaky_relu.negative_slope", "Slope for negative inputs."},
      {"gelu.approximate", "\"tanh\": the tanh approximation; \"none\": the exact erf form."},
  };
  return docs;
}

const std::string& key_doc(const std::string& type, const std::string& key) {
  const auto& docs = key_docs();
  auto it = docs.find(type + "." + key);
  if (it == docs.end()) it = docs.find("*." + key);
  TESSERA_CHECK(it != docs.end(), "layer reference: no description for ", type, ".", key,
                " (add it to key_docs in core/model/layer_reference.cpp)");
  return it->second;
}

std::string type_text(const KeyRecord& r) {
  std::string text;
  for (const std::string& t : r.types) {
    if (t == "array") continue;  // a list of numbers is shown after the single number
    text += (text.empty() ? "" : " or ") + t;
  }
  if (r.types.count("array")) text += (text.empty() ? "" : " or ") + std::string("list of ") + r.item_type + "s";
  return text;
}

std::string allowed_text(const KeyRecord& r) {
  std::string text;
  for (const std::string& value : r.allowed) text += (text.empty() ? "`\"" : ", `\"") + value + "\"`";
  if (r.minimum) text += (text.empty() ? "≥ " : ", ≥ ") + nlohmann::json(*r.minimum).dump();
  return text;
}

std::string default_text(const KeyRecord& r) {
  if (r.required) return "required";
  return r.default_value ? "`" + r.default_value->dump() + "`" : "";
}

}  // namespace

std::string layer_reference_markdown() {
  std::ostringstream out;
  out << "## Layers\n\n"
      << "Each item of `model.layers` is an object whose `type` is one of the layer types below, with that type's "
         "keys (any other key is an error naming it). Input sizes (in_features, in_channels, num_features, "
         "normalized_shape) come from the output of the layer before, as with PyTorch's lazy modules; each layer's "
         "output shape is checked against the data before training.\n";
  for (const std::string& type : layer_types()) {
    const auto doc = layer_docs().find(type);
    TESSERA_CHECK(doc != layer_docs().end(), "layer reference: no entry for layer type ", type,
                  " (add it to layer_docs in core/model/layer_reference.cpp)");
    nlohmann::json spec = doc->second.example;
    spec["type"] = type;
    ConfigRecording recording;
    {
      ConfigRecording::Scope scope(recording);
      Generator gen(0);
      build_sequential(nlohmann::json::array({spec}), doc->second.input, "model.layers", gen);
    }
    const ObjectRecord& object = recording.object("model.layers[0]");
    out << "\n### `" << type << "`\n\n" << doc->second.summary << "\n";
    if (object.order.size() <= 1) continue;  // "type" alone
    out << "\n| Key | Type | Default | Allowed | Description |\n|---|---|---|---|---|\n";
    for (const std::string& key : object.order) {
      if (key == "type") continue;
      const KeyRecord& r = object.keys.at(key);
      out << "| `" << key << "` | " << type_text(r) << " | " << default_text(r) << " | " << allowed_text(r) << " | "
          << key_doc(type, key) << " |\n";
    }
  }
  return out.str();
}

}  // namespace tessera::model
