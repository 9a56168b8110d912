#include "core/model/sequential_builder.h"

#include <functional>
#include <map>

#include "core/autograd/grad_mode.h"
#include "core/check.h"
#include "core/model/config_reader.h"
#include "core/nn/nn.h"
#include "core/ops/factory.h"

namespace tessera::model {

namespace {

std::string shape_text(const Shape& shape) {
  std::string text = "(N";
  for (int64_t size : shape) text += ", " + std::to_string(size);
  return text + ")";
}

// A kernel size, stride or padding given as one integer or [h, w].
nn::IntPair int_pair_value(ConfigReader& spec, const std::string& key, const std::vector<double>& values) {
  const bool whole = std::all_of(values.begin(), values.end(), [](double v) { return v >= 0 && v == int64_t(v); });
  TESSERA_CHECK(whole && (values.size() == 1 || values.size() == 2), "config: ", spec.path_of(key),
                ": expected a non-negative integer or [height, width]");
  return values.size() == 1 ? nn::IntPair(int64_t(values[0])) : nn::IntPair(int64_t(values[0]), int64_t(values[1]));
}

// The key's value, or `fallback` when it is left out (none: the key is required).
nn::IntPair int_pair(ConfigReader& spec, const std::string& key, std::optional<nn::IntPair> fallback) {
  if (!fallback) return int_pair_value(spec, key, spec.required<std::vector<double>>(key));
  auto values = spec.optional<std::vector<double>>(key);
  spec.record_default(key, fallback->h == fallback->w ? nlohmann::json(fallback->h)
                                                      : nlohmann::json::array({fallback->h, fallback->w}));
  return values ? int_pair_value(spec, key, *values) : *fallback;
}

// conv2d's padding: an integer or [h, w], or PyTorch's "valid" (none) and "same" (the output keeps the input's
// size). "same" needs stride 1, as in PyTorch, and an even dilation * (kernel - 1), since the convolution pads both
// sides alike where PyTorch pads an even kernel's extra row and column on one side.
nn::IntPair conv_padding(ConfigReader& spec, const nn::IntPair& kernel, const nn::IntPair& stride,
                         const nn::IntPair& dilation) {
  if (!spec.has("padding") || !spec.child("padding").is_string()) return int_pair(spec, "padding", 0);
  if (spec.one_of("padding", {"same", "valid"}) == "valid") return 0;
  TESSERA_CHECK(stride == nn::IntPair(1), "config: ", spec.path_of("padding"), ": \"same\" needs stride 1 (as in "
                "PyTorch), got stride ", stride.str());
  const auto half = [&](int64_t size, int64_t spacing) {
    const int64_t span = spacing * (size - 1);
    TESSERA_CHECK(span % 2 == 0, "config: ", spec.path_of("padding"), ": \"same\" with kernel_size ", kernel.str(),
                  " and dilation ", dilation.str(), " needs more padding on one side than the other, which conv2d "
                  "does not take; give padding as numbers");
    return span / 2;
  };
  return {half(kernel.h, dilation.h), half(kernel.w, dilation.w)};
}

int64_t positive(ConfigReader& spec, const std::string& key) {
  const int64_t value = spec.required<int64_t>(key);
  TESSERA_CHECK(value > 0, "config: ", spec.path_of(key), ": must be positive, got ", value);
  return value;
}

// batchnorm's momentum: a number (default 0.1, as PyTorch), or null for PyTorch's momentum=None, a cumulative
// average of the batch statistics (not silently the default).
std::optional<double> batch_norm_momentum(ConfigReader& spec) {
  const double momentum = spec.get<double>("momentum", 0.1);
  if (spec.is_null("momentum")) return std::nullopt;
  return momentum;
}

nn::BatchNormOptions batch_norm_options(ConfigReader& spec, int64_t num_features) {
  return {.num_features = num_features, .eps = spec.get<double>("eps", 1e-5), .momentum = batch_norm_momentum(spec),
          .affine = spec.get<bool>("affine", true),
          .track_running_stats = spec.get<bool>("track_running_stats", true)};
}

// The input dimensions a layer type needs, checked before it is built.
void expect_rank(const Shape& in, std::initializer_list<size_t> ranks, const std::string& what) {
  for (size_t rank : ranks) {
    if (in.size() + 1 == rank) return;
  }
  TESSERA_THROW(what, ", but its input is ", shape_text(in));
}

using LayerFactory = std::function<std::shared_ptr<nn::Module>(ConfigReader&, const Shape& in, Generator&)>;

const std::map<std::string, LayerFactory>& factories() {
  static const std::map<std::string, LayerFactory> table = {
      {"linear",
       [](ConfigReader& s, const Shape& in, Generator& gen) -> std::shared_ptr<nn::Module> {
         expect_rank(in, {2, 3}, "linear needs (N, features) or (N, T, features); add a flatten layer before it");
         return std::make_shared<nn::Linear>(
             nn::LinearOptions{.in_features = in.back(), .out_features = positive(s, "out_features"),
                               .bias = s.get<bool>("bias", true)},
             gen);
       }},
      {"conv2d",
       [](ConfigReader& s, const Shape& in, Generator& gen) -> std::shared_ptr<nn::Module> {
         expect_rank(in, {4}, "conv2d needs images (N, C, H, W)");
         nn::Conv2dOptions o{.in_channels = in[0], .out_channels = positive(s, "out_channels"),
                             .kernel_size = int_pair(s, "kernel_size", std::nullopt),
                             .stride = int_pair(s, "stride", 1)};
         o.dilation = int_pair(s, "dilation", 1);
         o.padding = conv_padding(s, o.kernel_size, o.stride, o.dilation);
         o.groups = s.get<int64_t>("groups", 1);
         o.bias = s.get<bool>("bias", true);
         return std::make_shared<nn::Conv2d>(o, gen);
       }},
      {"maxpool2d",
       [](ConfigReader& s, const Shape& in, Generator&) -> std::shared_ptr<nn::Module> {
         expect_rank(in, {4}, "maxpool2d needs images (N, C, H, W)");
         return std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions{
             .kernel_size = int_pair(s, "kernel_size", std::nullopt), .stride = int_pair(s, "stride", 0),
             .padding = int_pair(s, "padding", 0), .ceil_mode = s.get<bool>("ceil_mode", false)});
       }},
      {"avgpool2d",
       [](ConfigReader& s, const Shape& in, Generator&) -> std::shared_ptr<nn::Module> {
         expect_rank(in, {4}, "avgpool2d needs images (N, C, H, W)");
         return std::make_shared<nn::AvgPool2d>(nn::AvgPool2dOptions{
             .kernel_size = int_pair(s, "kernel_size", std::nullopt), .stride = int_pair(s, "stride", 0),
             .padding = int_pair(s, "padding", 0), .ceil_mode = s.get<bool>("ceil_mode", false),
             .count_include_pad = s.get<bool>("count_include_pad", true)});
       }},
      {"adaptive_avg_pool2d",
       [](ConfigReader& s, const Shape& in, Generator&) -> std::shared_ptr<nn::Module> {
         expect_rank(in, {4}, "adaptive_avg_pool2d needs images (N, C, H, W)");
         const nn::IntPair size = int_pair(s, "output_size", std::nullopt);
         TESSERA_CHECK(size.h > 0 && size.w > 0, "config: ", s.path_of("output_size"), ": must be positive");
         return std::make_shared<nn::AdaptiveAvgPool2d>(size);
       }},
      {"batchnorm2d",
       [](ConfigReader& s, const Shape& in, Generator&) -> std::shared_ptr<nn::Module> {
         expect_rank(in, {4}, "batchnorm2d needs images (N, C, H, W)");
         return std::make_shared<nn::BatchNorm2d>(batch_norm_options(s, in[0]));
       }},
      {"batchnorm1d",
       [](ConfigReader& s, const Shape& in, Generator&) -> std::shared_ptr<nn::Module> {
         expect_rank(in, {2, 3}, "batchnorm1d needs (N, C) or (N, C, L)");
         return std::make_shared<nn::BatchNorm1d>(batch_norm_options(s, in[0]));
       }},
      {"layernorm",
       [](ConfigReader& s, const Shape& in, Generator&) -> std::shared_ptr<nn::Module> {
         TESSERA_CHECK(!in.empty(), "layernorm needs at least one feature dimension");
         const double eps = s.get<double>("eps", 1e-5);  // as batchnorm's (a negative eps gives NaN at step 1)
         TESSERA_CHECK(eps > 0, "config: ", s.path_of("eps"), ": must be positive, got ", eps);
         return std::make_shared<nn::LayerNorm>(
             nn::LayerNormOptions{.normalized_shape = {in.back()}, .eps = eps,
                                  .elementwise_affine = s.get<bool>("elementwise_affine", true)});
       }},
      {"dropout",
       [](ConfigReader& s, const Shape&, Generator& gen) -> std::shared_ptr<nn::Module> {
         const double p = s.get<double>("p", 0.5);
         TESSERA_CHECK(p >= 0 && p < 1, "config: ", s.path_of("p"), ": must be in [0, 1), got ", p);
         return std::make_shared<nn::Dropout>(p, gen);
       }},
      {"flatten", [](ConfigReader&, const Shape&, Generator&) -> std::shared_ptr<nn::Module> {
         return std::make_shared<nn::Flatten>();
       }},
      {"relu", [](ConfigReader&, const Shape&, Generator&) -> std::shared_ptr<nn::Module> {
         return std::make_shared<nn::ReLU>();
       }},
      {"leaky_relu", [](ConfigReader& s, const Shape&, Generator&) -> std::shared_ptr<nn::Module> {
         return std::make_shared<nn::LeakyReLU>(s.get<double>("negative_slope", 0.01));
       }},
      {"gelu", [](ConfigReader& s, const Shape&, Generator&) -> std::shared_ptr<nn::Module> {
         return std::make_shared<nn::GELU>(s.one_of("approximate", {"none", "tanh"}, "none"));
       }},
      {"tanh", [](ConfigReader&, const Shape&, Generator&) -> std::shared_ptr<nn::Module> {
         return std::make_shared<nn::Tanh>();
       }},
      {"sigmoid", [](ConfigReader&, const Shape&, Generator&) -> std::shared_ptr<nn::Module> {
         return std::make_shared<nn::Sigmoid>();
       }},
      {"silu", [](ConfigReader&, const Shape&, Generator&) -> std::shared_ptr<nn::Module> {
         return std::make_shared<nn::SiLU>();
       }},
  };
  return table;
}

}  // namespace

const std::vector<std::string>& layer_types() {
  static const std::vector<std::string> types = [] {
    std::vector<std::string> out;
    for (const auto& [name, factory] : factories()) out.push_back(name);
    return out;
  }();
  return types;
}

BuiltSequential build_sequential(const nlohmann::json& layers, const Shape& sample_shape, const std::string& path,
                                 Generator& gen) {
  TESSERA_CHECK(layers.is_array() && !layers.empty(), "config: ", path, ": expected a non-empty list of layers, got ",
                describe_json(layers));
  BuiltSequential built{std::make_shared<nn::Sequential>(), sample_shape, {}};
  Shape shape = sample_shape;
  NoGradGuard no_grad;
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string layer_path = path + "[" + std::to_string(i) + "]";
    ConfigReader spec(layers[i], layer_path);
    const std::string type = spec.one_of("type", layer_types());
    std::shared_ptr<nn::Module> layer;
    Shape out;
    try {
      layer = factories().at(type)(spec, shape, gen);
      spec.finish();
      layer->eval();
      Shape batch = shape;
      batch.insert(batch.begin(), 2);
      const Tensor output = layer->forward(zeros(batch));
      out.assign(output.shape().begin() + 1, output.shape().end());
    } catch (const std::bad_alloc&) {  // out_features 1e12: name the layer, not a bare std::bad_alloc
      TESSERA_THROW("config: ", layer_path, " (", type, "): its parameters or its output for input ",
                    shape_text(shape), " do not fit in memory");
    } catch (const Error& e) {
      // Key-path errors already name their place; shape errors get the layer and its input shape.
      if (e.message().rfind("config: ", 0) == 0) throw;
      const std::string input = shape_text(shape);
      const std::string input_note = e.message().find(input) == std::string::npos ? " [input " + input + "]" : "";
      throw LayerShapeError(detail::concat("config: ", layer_path, " (", type, "): ", e.message(), input_note),
                            __FILE__, __LINE__);
    }
    layer->train();
    built.module->push_back(layer);
    built.layers.push_back({std::to_string(i), type, out, layer->num_parameters()});
    shape = out;
  }
  return built;
}

}  // namespace tessera::model
