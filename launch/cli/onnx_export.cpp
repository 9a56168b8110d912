#include "launch/cli/onnx_export.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/check.h"
#include "core/nn/activation.h"
#include "core/nn/container.h"
#include "core/nn/conv.h"
#include "core/nn/dropout.h"
#include "core/nn/flatten.h"
#include "core/nn/linear.h"
#include "core/nn/normalization.h"
#include "core/nn/pooling.h"
#include "core/ops/factory.h"
#include "io/training/atomic_file.h"

#if TESSERA_WITH_ONNX
#include <onnx/onnx_pb.h>
#endif

namespace tessera::cli {

#if TESSERA_WITH_ONNX

namespace {

constexpr int64_t kOpset = 17;       // LayerNormalization's first; onnxruntime and ONNX 1.12 both read it
constexpr int64_t kIrVersion = 8;    // ONNX 1.12's

// Appends nodes and initializers to a graph; each node's output is named after the layer that made it.
class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto& graph) : graph_(graph) {}

  // A float32 initializer with `tensor`'s values and shape.
  std::string initializer(const std::string& name, const Tensor& tensor) {
    const std::vector<float> values = tensor.to(DType::f32).to_vector<float>();
    return initializer(name, values, tensor.shape());
  }
  // `tensor` where the layer has it (affine normalisation), else `shape` filled with `fill` (what it computes with).
  std::string initializer_or(const std::string& name, const Tensor& tensor, float fill, const Shape& shape) {
    if (tensor.defined()) return initializer(name, tensor);
    return initializer(name, std::vector<float>(static_cast<size_t>(shape_numel(shape)), fill), shape);
  }
  std::string initializer(const std::string& name, const std::vector<float>& values, const Shape& shape) {
    onnx::TensorProto* t = graph_.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
    return name;
  }

  // Adds op(inputs) -> one output named `output`; returns the node for its attributes.
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output) {
    onnx::NodeProto* n = graph_.add_node();
    n->set_op_type(op);
    n->set_name(output);
    for (const auto& input : inputs) n->add_input(input);
    n->add_output(output);
    return *n;
  }

  static void ints(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& values) {
    onnx::AttributeProto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
  }
  static void integer(onnx::NodeProto& n, const std::string& name, int64_t value) {
    onnx::AttributeProto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }
  static void real(onnx::NodeProto& n, const std::string& name, double value) {
    onnx::AttributeProto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(static_cast<float>(value));
  }

 private:
  onnx::GraphProto& graph_;
};

// The sample shape (without N) each layer of `sequential` takes and gives, from a forward of one zero sample in
// evaluation mode (each layer's mode restored after: BatchNorm's running statistics stay as they are).
std::vector<std::pair<Shape, Shape>> layer_shapes(const nn::Sequential& sequential, const Shape& sample_shape) {
  NoGradGuard no_grad;
  Shape batch = {1};
  batch.insert(batch.end(), sample_shape.begin(), sample_shape.end());
  Tensor x = zeros(batch);
  std::vector<std::pair<Shape, Shape>> shapes;
  for (const auto& [name, child] : sequential.named_children()) {
    const bool training = child->is_training();
    child->eval();
    Tensor y = child->forward(x);
    child->train(training);
    shapes.push_back({Shape(x.shape().begin() + 1, x.shape().end()), Shape(y.shape().begin() + 1, y.shape().end())});
    x = y;
  }
  return shapes;
}

// The layer's nodes after `input`, which has sample shape `in` and gives `out`; returns the name of its output.
std::string export_layer(GraphBuilder& g, const std::string& name, const nn::Module& layer, const std::string& input,
                         const Shape& in, const Shape& out_shape) {
  const std::string out = name + "_" + layer.type_name();
  const auto scalar = [&](const std::string& suffix, float value) { return g.initializer(name + suffix, {value}, {}); };
  if (const auto* linear = dynamic_cast<const nn::Linear*>(&layer)) {
    const std::string product = name + "_matmul";
    g.node("MatMul", {input, g.initializer(name + ".weight_t", linear->weight().t().contiguous())}, product);
    if (!linear->bias().defined()) return product;
    g.node("Add", {product, g.initializer(name + ".bias", linear->bias())}, out);
    return out;
  }
  if (const auto* conv = dynamic_cast<const nn::Conv2d*>(&layer)) {
    const nn::Conv2dOptions& o = conv->options();
    std::vector<std::string> inputs = {input, g.initializer(name + ".weight", conv->weight())};
    if (conv->bias().defined()) inputs.push_back(g.initializer(name + ".bias", conv->bias()));
    onnx::NodeProto& n = g.node("Conv", inputs, out);
    GraphBuilder::ints(n, "kernel_shape", {o.kernel_size.h, o.kernel_size.w});
    GraphBuilder::ints(n, "strides", {o.stride.h, o.stride.w});
    GraphBuilder::ints(n, "pads", {o.padding.h, o.padding.w, o.padding.h, o.padding.w});
    GraphBuilder::ints(n, "dilations", {o.dilation.h, o.dilation.w});
    GraphBuilder::integer(n, "group", o.groups);
    return out;
  }
  // ONNX's ceil_mode is not PyTorch's (onnxruntime keeps a last window that starts in the right padding, and
  // averages over the part of a window past the padded input), so none is written: PyTorch's output size, known
  // here, comes from floor mode with as much padding at the end as its last window needs. Max pooling ignores
  // padding, so it is exact. An average divides by the window's real elements there (count_include_pad 0), which is
  // PyTorch's divisor when it excludes padding, or when there is none (its window is clipped to the input);
  // `extended` says whether any end padding was added.
  const auto pool = [&](const std::string& op, const nn::IntPair& kernel, nn::IntPair stride, const nn::IntPair& pad,
                        bool& extended) -> onnx::NodeProto& {
    if (stride.h == 0) stride = kernel;  // PyTorch's default: the kernel size
    const auto end_pad = [&](int64_t size, int64_t outputs, int64_t k, int64_t s, int64_t p) {
      const int64_t needed = (outputs - 1) * s + k - size - p;  // floor mode then gives `outputs` windows
      return std::max(needed, p);
    };
    const nn::IntPair end{end_pad(in[1], out_shape[1], kernel.h, stride.h, pad.h),
                          end_pad(in[2], out_shape[2], kernel.w, stride.w, pad.w)};
    extended = end.h != pad.h || end.w != pad.w;
    onnx::NodeProto& n = g.node(op, {input}, out);
    GraphBuilder::ints(n, "kernel_shape", {kernel.h, kernel.w});
    GraphBuilder::ints(n, "strides", {stride.h, stride.w});
    GraphBuilder::ints(n, "pads", {pad.h, pad.w, end.h, end.w});
    GraphBuilder::integer(n, "ceil_mode", 0);
    return n;
  };
  bool extended = false;
  if (const auto* max = dynamic_cast<const nn::MaxPool2d*>(&layer)) {
    const nn::MaxPool2dOptions& o = max->options();
    pool("MaxPool", o.kernel_size, o.stride, o.padding, extended);
    return out;
  }
  if (const auto* avg = dynamic_cast<const nn::AvgPool2d*>(&layer)) {
    const nn::AvgPool2dOptions& o = avg->options();
    onnx::NodeProto& n = pool("AveragePool", o.kernel_size, o.stride, o.padding, extended);
    const bool padded = o.padding.h > 0 || o.padding.w > 0;
    TESSERA_CHECK(!extended || !o.count_include_pad || !padded, "export: layer ", name, " (", layer.type_name(),
                  ") has ceil_mode true with padding and count_include_pad true: its last windows divide by a ",
                  "count ONNX's AveragePool cannot express; retrain with count_include_pad false or ceil_mode false");
    GraphBuilder::integer(n, "count_include_pad", o.count_include_pad && !extended ? 1 : 0);
    return out;
  }
  if (const auto* bn = dynamic_cast<const nn::BatchNormBase*>(&layer)) {
    const nn::BatchNormOptions& o = bn->options();
    TESSERA_CHECK(o.track_running_stats, "export: layer ", name, " (", layer.type_name(),
                  ") keeps no running statistics: in eval it normalises with each batch's, which ONNX cannot");
    const Shape channels = {o.num_features};
    onnx::NodeProto& n = g.node("BatchNormalization",
                                {input, g.initializer_or(name + ".weight", bn->weight(), 1.0f, channels),
                                 g.initializer_or(name + ".bias", bn->bias(), 0.0f, channels),
                                 g.initializer(name + ".running_mean", bn->running_mean()),
                                 g.initializer(name + ".running_var", bn->running_var())},
                                out);
    GraphBuilder::real(n, "epsilon", o.eps);
    return out;
  }
  if (const auto* ln = dynamic_cast<const nn::LayerNorm*>(&layer)) {
    const nn::LayerNormOptions& o = ln->options();
    onnx::NodeProto& n = g.node("LayerNormalization",
                                {input, g.initializer_or(name + ".weight", ln->weight(), 1.0f, o.normalized_shape),
                                 g.initializer_or(name + ".bias", ln->bias(), 0.0f, o.normalized_shape)},
                                out);
    GraphBuilder::integer(n, "axis", -static_cast<int64_t>(o.normalized_shape.size()));
    GraphBuilder::real(n, "epsilon", o.eps);
    return out;
  }
  if (const auto* flatten = dynamic_cast<const nn::Flatten*>(&layer)) {
    TESSERA_CHECK(flatten->start_dim() == 1 && flatten->end_dim() == -1, "export: layer ", name,
                  ": only Flatten(1, -1) maps to ONNX's Flatten (axis 1), got (", flatten->start_dim(), ", ",
                  flatten->end_dim(), ")");
    GraphBuilder::integer(g.node("Flatten", {input}, out), "axis", 1);
    return out;
  }
  if (dynamic_cast<const nn::Dropout*>(&layer)) return input;  // inference: the identity
  for (const auto& [type, op] : {std::pair{"ReLU", "Relu"}, {"Tanh", "Tanh"}, {"Sigmoid", "Sigmoid"}}) {
    if (layer.type_name() != type) continue;
    g.node(op, {input}, out);
    return out;
  }
  if (dynamic_cast<const nn::SiLU*>(&layer)) {  // x * sigmoid(x): ONNX has no SiLU operator before opset 24
    g.node("Sigmoid", {input}, name + "_sigmoid");
    g.node("Mul", {input, name + "_sigmoid"}, out);
    return out;
  }
  if (const auto* leaky = dynamic_cast<const nn::LeakyReLU*>(&layer)) {
    GraphBuilder::real(g.node("LeakyRelu", {input}, out), "alpha", leaky->negative_slope());
    return out;
  }
  if (const auto* adaptive = dynamic_cast<const nn::AdaptiveAvgPool2d*>(&layer)) {
    // GlobalAveragePool keeps (N, C, 1, 1), as adaptive_avg_pool2d((1, 1)) does; other sizes would need the input's.
    TESSERA_CHECK(adaptive->output_size().h == 1 && adaptive->output_size().w == 1, "export: layer ", name,
                  " (AdaptiveAvgPool2d) has output_size ", adaptive->output_size().str(),
                  "; only (1, 1) exports (GlobalAveragePool)");
    g.node("GlobalAveragePool", {input}, out);
    return out;
  }
  if (const auto* gelu = dynamic_cast<const nn::GELU*>(&layer)) {
    // 0.5 x (1 + erf(x / sqrt 2)), or with approximate="tanh" 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
    std::string inner;
    if (gelu->approximate() == "tanh") {
      g.node("Mul", {input, input}, name + "_x2");
      g.node("Mul", {name + "_x2", input}, name + "_x3");
      g.node("Mul", {name + "_x3", scalar(".c", 0.044715f)}, name + "_cx3");
      g.node("Add", {input, name + "_cx3"}, name + "_poly");
      const float k = static_cast<float>(std::sqrt(2.0 / std::numbers::pi));
      g.node("Mul", {name + "_poly", scalar(".k", k)}, name + "_arg");
      inner = g.node("Tanh", {name + "_arg"}, name + "_tanh").output(0);
    } else {
      g.node("Div", {input, scalar(".sqrt2", static_cast<float>(std::sqrt(2.0)))}, name + "_scaled");
      inner = g.node("Erf", {name + "_scaled"}, name + "_erf").output(0);
    }
    g.node("Add", {inner, scalar(".one", 1.0f)}, name + "_1p");
    g.node("Mul", {input, name + "_1p"}, name + "_x1p");
    g.node("Mul", {name + "_x1p", scalar(".half", 0.5f)}, out);
    return out;
  }
  TESSERA_THROW("export: layer ", name, " (", layer.type_name(), ") has no ONNX form here (linear, conv2d, "
                "maxpool2d, avgpool2d, adaptive_avg_pool2d (1x1), batchnorm1d/2d, layernorm, flatten, dropout, relu, "
                "leaky_relu, tanh, sigmoid, silu and gelu do)");
}

void add_float_value(onnx::ValueInfoProto* value, const std::string& name, const std::vector<std::string>& dims) {
  value->set_name(name);
  onnx::TypeProto_Tensor* type = value->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  for (const auto& dim : dims) {
    onnx::TensorShapeProto_Dimension* d = type->mutable_shape()->add_dim();
    if (!dim.empty() && std::isdigit(static_cast<unsigned char>(dim[0]))) d->set_dim_value(std::stoll(dim));
    else d->set_dim_param(dim);
  }
}

// Transpose to channels-first, then value * multiplier + offset per entry of dim 1; returns the output's name.
std::string export_preprocessing(GraphBuilder& g, const OnnxPreprocessing& p, const Shape& sample_shape) {
  std::string current = "x";
  if (p.channels_last) {
    TESSERA_CHECK(p.stored_sample.size() == 3, "export: channels-last samples must be images (H, W, C), got ",
                  shape_str(p.stored_sample));
    GraphBuilder::ints(g.node("Transpose", {current}, "x_channels_first"), "perm", {0, 3, 1, 2});
    current = "x_channels_first";
  }
  const bool identity = std::all_of(p.multipliers.begin(), p.multipliers.end(), [](double m) { return m == 1.0; }) &&
                        std::all_of(p.offsets.begin(), p.offsets.end(), [](double o) { return o == 0.0; });
  if (identity) return current;
  // (C, 1, 1) for images, (F) for feature rows: broadcast along dim 1 of (N, C, H, W) or (N, F).
  Shape per_entry = {static_cast<int64_t>(p.multipliers.size())};
  for (size_t d = 1; d < sample_shape.size(); ++d) per_entry.push_back(1);
  const std::vector<float> multipliers(p.multipliers.begin(), p.multipliers.end()),
      offsets(p.offsets.begin(), p.offsets.end());
  g.node("Mul", {current, g.initializer("preprocessing.multiplier", multipliers, per_entry)}, "x_scaled");
  g.node("Add", {"x_scaled", g.initializer("preprocessing.offset", offsets, per_entry)}, "x_preprocessed");
  return "x_preprocessed";
}

}  // namespace

bool onnx_export_available() { return true; }

std::string onnx_export_version() {
  return std::string("ONNX ") + TESSERA_ONNX_VERSION + " (opset " + std::to_string(kOpset) + ")";
}

void export_onnx(const nn::Module& model, const Shape& sample_shape, const std::string& path,
                 const std::string& producer_note, const std::optional<OnnxPreprocessing>& preprocessing) {
  const auto* sequential = dynamic_cast<const nn::Sequential*>(&model);
  TESSERA_CHECK(sequential, "export: the model is a ", model.type_name(), "; only a Sequential (model.layers) exports");
  // One .onnx file is one protobuf message, and protobuf refuses messages of 2 GiB or more (its sizes are int):
  // SerializeToString would fail after the whole graph was built, and an initializer of more than 2^31 floats
  // overflows its repeated field first. Weights travel as f32 initializers.
  int64_t weight_bytes = 0;
  for (const auto& [name, tensor] : model.named_parameters()) weight_bytes += tensor.numel() * 4;
  for (const auto& [name, tensor] : model.named_buffers()) weight_bytes += tensor.numel() * 4;
  TESSERA_CHECK(weight_bytes < (int64_t{2} << 30) - (int64_t{16} << 20), "export: the model's weights take ",
                weight_bytes, " bytes as f32, more than one ONNX file holds (protobuf's 2 GiB limit; such models need "
                "ONNX external data, which tessera export does not write)");
  onnx::ModelProto proto;
  proto.set_ir_version(kIrVersion);
  proto.set_producer_name("tessera");
  proto.set_doc_string(producer_note);
  onnx::OperatorSetIdProto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  onnx::GraphProto& graph = *proto.mutable_graph();
  graph.set_name("tessera");
  std::vector<std::string> input_dims = {"N"};
  for (int64_t d : preprocessing ? preprocessing->stored_sample : sample_shape) input_dims.push_back(std::to_string(d));
  add_float_value(graph.add_input(), "x", input_dims);
  GraphBuilder builder(graph);
  std::string current = preprocessing ? export_preprocessing(builder, *preprocessing, sample_shape) : "x";
  const auto shapes = layer_shapes(*sequential, sample_shape);
  size_t i = 0;
  for (const auto& [name, child] : sequential->named_children()) {
    current = export_layer(builder, name, *child, current, shapes[i].first, shapes[i].second);
    ++i;
  }
  builder.node("Identity", {current}, "outputs");
  add_float_value(graph.add_output(), "outputs", {});
  graph.mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();  // rank left to the runtime
  std::string bytes;
  TESSERA_CHECK(proto.ByteSizeLong() < (size_t{2} << 30), "export: the ONNX model for '", path, "' is ",
                proto.ByteSizeLong(), " bytes, more than protobuf's 2 GiB limit");
  TESSERA_CHECK(proto.SerializeToString(&bytes), "export: cannot serialise the ONNX model for '", path, "'");
  io::write_file_atomically(path, bytes, {.what = "ONNX model"});
}

#else

bool onnx_export_available() { return false; }

std::string onnx_export_version() { return "not built (libonnx-dev and libprotobuf-dev were not found)"; }

void export_onnx(const nn::Module&, const Shape&, const std::string&, const std::string&,
                 const std::optional<OnnxPreprocessing>&) {
  TESSERA_THROW("export: this build has no ONNX (install libonnx-dev and libprotobuf-dev, as launch/setup.sh does, "
                "and build again)");
}

#endif

}  // namespace tessera::cli
