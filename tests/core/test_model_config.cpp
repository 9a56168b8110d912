// The Keras-level model builder and config reader: layer output shapes and parameter counts equal PyTorch's
// (its lazy modules infer input sizes the same way); every bad spec is one error naming the key path.
#include <gtest/gtest.h>

#include "core/model/layer_reference.h"
#include "core/model/model.h"
#include "core/nn/nn.h"
#include "tests/support/test_prelude.h"

using namespace tessera;
using model::build_sequential;
using model::ConfigReader;

namespace {

const json kCnn = json::parse(R"([
  {"type": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1}, {"type": "relu"},
  {"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"}, {"type": "dropout", "p": 0.25},
  {"type": "linear", "out_features": 10}])");

const json kEveryLayer = json::parse(R"([
  {"type": "conv2d", "out_channels": 8, "kernel_size": [3, 5], "stride": 2, "padding": [1, 2], "bias": false},
  {"type": "batchnorm2d"}, {"type": "gelu", "approximate": "tanh"},
  {"type": "avgpool2d", "kernel_size": 2, "stride": 1}, {"type": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
  {"type": "flatten"}, {"type": "linear", "out_features": 40}, {"type": "batchnorm1d", "momentum": 0.2},
  {"type": "tanh"}, {"type": "layernorm", "eps": 1e-6}, {"type": "sigmoid"}, {"type": "dropout"},
  {"type": "linear", "out_features": 7, "bias": false}])");

// The options beyond the common ones: ceil_mode, count_include_pad, affine, track_running_stats,
// elementwise_affine, leaky_relu and adaptive_avg_pool2d.
const json kMoreOptions = json::parse(R"([
  {"type": "conv2d", "out_channels": 3, "kernel_size": [3, 5], "dilation": [2, 1], "padding": "same"},
  {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": "valid"},
  {"type": "batchnorm2d", "affine": false, "track_running_stats": false}, {"type": "leaky_relu", "negative_slope": 0.2},
  {"type": "maxpool2d", "kernel_size": 2, "ceil_mode": true},
  {"type": "avgpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": true, "count_include_pad": false},
  {"type": "adaptive_avg_pool2d", "output_size": [3, 2]}, {"type": "flatten"},
  {"type": "layernorm", "elementwise_affine": false}, {"type": "linear", "out_features": 5},
  {"type": "batchnorm1d", "momentum": null, "affine": false}])");

}  // namespace

TEST(ModelBuilder, ShapesAndParameterCountsMatchPyTorch) {
  if (!tessera::testing::torch_available()) GTEST_SKIP() << "python3-torch not installed";
  const std::vector<std::pair<json, Shape>> cases = {
      {kCnn, {1, 28, 28}}, {kEveryLayer, {3, 17, 20}}, {kMoreOptions, {3, 17, 20}}};
  json request = json::array();
  for (const auto& [layers, shape] : cases) request.push_back({{"sample_shape", shape}, {"layers", layers}});
  const json expected = tessera::testing::run_torch_script("layer_shapes.py", request);
  for (size_t c = 0; c < cases.size(); ++c) {
    const auto built = build_sequential(cases[c].first, cases[c].second);
    ASSERT_EQ(built.layers.size(), expected[c].size());
    for (size_t i = 0; i < built.layers.size(); ++i) {
      EXPECT_EQ(built.layers[i].output_shape, expected[c][i]["output_shape"].get<Shape>()) << "case " << c << " layer " << i;
      EXPECT_EQ(built.layers[i].parameters, expected[c][i]["parameters"].get<int64_t>()) << "case " << c << " layer " << i;
    }
    // The module really computes what the summary says.
    const Tensor out = (*built.module)(randn({5, cases[c].second[0], cases[c].second[1], cases[c].second[2]}));
    Shape want = built.layers.back().output_shape;
    want.insert(want.begin(), 5);
    EXPECT_EQ(out.shape(), want);
  }
}

TEST(ModelBuilder, SummaryListsLayersAndTotals) {
  const auto built = build_sequential(kCnn, {1, 28, 28});
  const std::string text = model::summary(built);
  EXPECT_NE(text.find("0 (conv2d)"), std::string::npos) << text;
  EXPECT_NE(text.find("(N, 32, 28, 28)"), std::string::npos) << text;
  EXPECT_NE(text.find("(N, 6272)"), std::string::npos) << text;
  EXPECT_NE(text.find("Total params: " + std::string("63,050")), std::string::npos) << text;  // 320 + 62,730
  EXPECT_EQ(built.module->num_parameters(), 63050);
  EXPECT_EQ(built.module->named_parameters()[0].first, "0.weight");
}

TEST(ModelBuilder, SpecsThatDoNotFitTheDataNameTheLayer) {
  // An MLP without flatten on images; conv2d after flatten; a kernel larger than the image.
  expect_error([] { build_sequential(json::parse(R"([{"type": "linear", "out_features": 10}])"), {1, 28, 28}); },
               {"model.layers[0] (linear)", "add a flatten layer", "(N, 1, 28, 28)"});
  expect_error([] {
    build_sequential(json::parse(R"([{"type": "flatten"}, {"type": "conv2d", "out_channels": 4, "kernel_size": 3}])"),
                     {1, 28, 28});
  }, {"model.layers[1] (conv2d)", "(N, 784)"});
  expect_error([] {
    build_sequential(json::parse(R"([{"type": "conv2d", "out_channels": 4, "kernel_size": 9}])"), {1, 5, 5});
  }, {"model.layers[0] (conv2d)", "(N, 1, 5, 5)"});
}

// "momentum": null is PyTorch's BatchNorm momentum=None (a cumulative average of the batch statistics), not the
// default 0.1.
TEST(ModelBuilder, BatchNormMomentumNullIsACumulativeAverage) {
  const auto built = build_sequential(json::parse(R"([{"type": "batchnorm1d", "momentum": null}])"), {2});
  const auto bn = built.module->at<nn::BatchNorm1d>(0);
  EXPECT_FALSE(bn->options().momentum.has_value());
  for (double shift : {1.0, 2.0, 6.0}) (*bn)(tensor<float>({-1, 1, 1, 3}, {2, 2}) + shift);
  expect_close(bn->running_mean(), tensor<float>({3, 5}, {2}), 1e-6, 1e-6);  // batch means (s, 2 + s), s = 1, 2, 6: their average
  const auto plain = build_sequential(json::parse(R"([{"type": "batchnorm2d"}])"), {2, 3, 3});
  EXPECT_EQ(plain.module->at<nn::BatchNorm2d>(0)->options().momentum, 0.1);
}

// Each option reaches its module (the shapes above cannot show count_include_pad, a slope or a missing running
// statistic).
TEST(ModelBuilder, LayerOptionsReachTheModules) {
  const auto built = build_sequential(kMoreOptions, {3, 17, 20});
  const nn::Sequential& net = *built.module;
  EXPECT_FALSE(net.at<nn::BatchNorm2d>(2)->options().affine);
  EXPECT_FALSE(net.at<nn::BatchNorm2d>(2)->options().track_running_stats);
  EXPECT_EQ(net.at<nn::LeakyReLU>(3)->negative_slope(), 0.2);
  EXPECT_TRUE(net.at<nn::MaxPool2d>(4)->options().ceil_mode);
  EXPECT_TRUE(net.at<nn::AvgPool2d>(5)->options().ceil_mode);
  EXPECT_FALSE(net.at<nn::AvgPool2d>(5)->options().count_include_pad);
  EXPECT_EQ(net.at<nn::AdaptiveAvgPool2d>(6)->output_size(), nn::IntPair(3, 2));
  EXPECT_FALSE(net.at<nn::LayerNorm>(8)->options().elementwise_affine);
  EXPECT_FALSE(net.at<nn::BatchNorm1d>(10)->options().affine);
  EXPECT_EQ(net.at<nn::Conv2d>(0)->options().padding, nn::IntPair(2, 2));
  expect_error([] { build_sequential(json::parse(R"([{"type": "adaptive_avg_pool2d", "output_size": 0}])"), {1, 4, 4}); },
               "model.layers[0].output_size: must be positive");
  expect_error([] {
    build_sequential(json::parse(R"([{"type": "conv2d", "out_channels": 1, "kernel_size": 3, "stride": 2, "padding": "same"}])"), {1, 8, 8});
  }, "model.layers[0].padding: \"same\" needs stride 1");
  expect_error([] {
    build_sequential(json::parse(R"([{"type": "conv2d", "out_channels": 1, "kernel_size": 2, "padding": "same"}])"), {1, 8, 8});
  }, "needs more padding on one side than the other");
  expect_error([] {
    build_sequential(json::parse(R"([{"type": "conv2d", "out_channels": 1, "kernel_size": 3, "padding": "full"}])"), {1, 8, 8});
  }, "model.layers[0].padding");
}

// The reference in docs/config.md comes from the builder: every layer type has a section, every key a row (the
// generator refuses a type or key without a description).
TEST(ModelBuilder, LayerReferenceCoversEveryTypeAndKey) {
  const std::string text = model::layer_reference_markdown();
  for (const std::string& type : model::layer_types())
    EXPECT_NE(text.find("### `" + type + "`"), std::string::npos) << type;
  EXPECT_NE(text.find("| `count_include_pad` | boolean | `true` |"), std::string::npos) << text;
  EXPECT_NE(text.find("| `kernel_size` | number or list of numbers | required |"), std::string::npos) << text;
  EXPECT_NE(text.find("| `approximate` | string | `\"none\"` | `\"none\"`, `\"tanh\"` |"), std::string::npos) << text;
}

TEST(ModelBuilder, BadSpecsNameTheKeyPath) {
  auto build = [](const char* layers) { build_sequential(json::parse(layers), {1, 28, 28}); };
  expect_error([&] { build(R"([{"type": "convolution"}])"); }, {"model.layers[0].type", "\"convolution\"", "conv2d"});
  expect_error([&] { build(R"([{"type": "relu", "inplace": true}])"); }, {"unknown key model.layers[0].inplace"});
  expect_error([&] { build(R"([{"type": "flatten"}, {"type": "linear"}])"); }, {"missing key model.layers[1].out_features"});
  expect_error([&] { build(R"([{"type": "flatten"}, {"type": "linear", "out_features": "ten"}])"); },
               {"model.layers[1].out_features", "expected an integer", "\"ten\""});
  expect_error([&] { build(R"([{"type": "flatten"}, {"type": "linear", "out_features": 2.5}])"); },
               {"model.layers[1].out_features", "expected an integer"});
  expect_error([&] { build(R"([{"type": "flatten"}, {"type": "linear", "out_features": 0}])"); },
               {"model.layers[1].out_features", "must be positive"});
  expect_error([&] { build(R"([{"type": "dropout", "p": 1.5}])"); }, {"model.layers[0].p", "[0, 1)"});
  expect_error([&] { build(R"([{"type": "maxpool2d", "kernel_size": [2, 2, 2]}])"); },
               {"model.layers[0].kernel_size", "[height, width]"});
  expect_error([&] { build(R"([])"); }, {"model.layers", "non-empty list"});
  expect_error([&] { build(R"(["relu"])"); }, {"model.layers[0]", "must be a JSON object"});
  expect_error([&] { build(R"([{"type": "layernorm", "eps": -10}])"); }, {"model.layers[0].eps", "must be positive"});
  expect_error([&] { build(R"([{"type": "flatten"}, {"type": "linear", "out_features": 1000000000000}])"); },
               {"model.layers[1] (linear)", "memory"});  // the CPU's bad_alloc, or a device's out of memory
}

// A bad key or value of a layer is reported as it is; only a layer that cannot take the data's shape is a
// LayerShapeError, which `tessera train` prefixes with the data's file and layout.
TEST(ModelBuilder, OnlyShapeErrorsAreLayerShapeErrors) {
  auto build = [](const char* layers) { build_sequential(json::parse(layers), {1, 28, 28}); };
  EXPECT_THROW(build(R"([{"type": "linear", "out_features": 10}])"), model::LayerShapeError);
  for (const char* spec : {R"([{"type": "relu", "inplace": true}])", R"([{"type": "Dense"}])", R"(["relu"])",
                           R"([{"type": "dropout", "p": 1.5}])"}) {
    SCOPED_TRACE(spec);
    try {
      build(spec);
      ADD_FAILURE() << "no error";
    } catch (const model::LayerShapeError&) {
      ADD_FAILURE() << "a spec error reported as a shape error";
    } catch (const Error&) {
    }
  }
}

TEST(ConfigReader, TypesDefaultsAndUnknownKeys) {
  const json config = json::parse(R"({"lr": 0.5, "steps": 3, "name": "x", "nesterov": true, "files": "a.h5",
                                      "mean": [0.5, 0.25], "seed": 7})");
  ConfigReader reader(config, "optimizer");
  EXPECT_EQ(reader.get<double>("lr", 1.0), 0.5);
  EXPECT_EQ(reader.get<double>("momentum", 0.9), 0.9);
  EXPECT_EQ(reader.required<int64_t>("steps"), 3);
  EXPECT_EQ(reader.required<std::string>("name"), "x");
  EXPECT_TRUE(reader.required<bool>("nesterov"));
  EXPECT_EQ(reader.required<std::vector<std::string>>("files"), std::vector<std::string>{"a.h5"});
  EXPECT_EQ(reader.required<std::vector<double>>("mean"), (std::vector<double>{0.5, 0.25}));
  EXPECT_FALSE(reader.optional<int64_t>("max_steps").has_value());
  expect_error([&] { reader.finish(); }, {"unknown key optimizer.seed", "allowed here: lr, momentum, steps"});
  EXPECT_EQ(reader.required<uint64_t>("seed"), 7u);
  reader.finish();  // every key read now

  ConfigReader strict(json::parse(R"({"steps": -2, "flag": 1, "lr": true})"), "");
  expect_error([&] { strict.required<uint64_t>("steps"); }, {"steps", "non-negative integer"});
  // Past the type's range: the value given, not the one a cast wraps to.
  ConfigReader huge(json::parse(R"({"a": 18446744073709551615, "b": 1e30, "c": 9223372036854775807})"), "");
  expect_error([&] { huge.required<int64_t>("a"); }, {"a", "an integer in [", "18446744073709551615"});
  expect_error([&] { huge.required<int64_t>("b"); }, {"b", "an integer in [", "1e+30"});
  expect_error([&] { huge.required<uint64_t>("b"); }, {"b", "an integer in [0, 18446744073709551615]", "1e+30"});
  EXPECT_EQ(huge.required<int64_t>("c"), INT64_MAX);
  EXPECT_EQ(huge.required<uint64_t>("a"), UINT64_MAX);
  expect_error([&] { strict.required<bool>("flag"); }, {"flag", "true or false"});
  expect_error([&] { strict.required<double>("lr"); }, {"lr", "expected a number", "true"});
  expect_error([&] { strict.required<double>("missing"); }, {"missing key missing"});
}
