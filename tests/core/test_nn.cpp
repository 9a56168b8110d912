// Tests of tessera::nn: module registration and naming, modes, state_dict save/load and its errors, default
// initialisations, descriptions, and every layer's forward (and backward) against PyTorch with identical weights.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/core.h"
#include "core/nn/nn.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

std::vector<std::string> names_of(const nn::Named<Tensor>& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

struct Moments {
  double min, max, mean, std;
};
Moments moments(const Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  Moments m{v[0], v[0], 0.0, 0.0};
  for (double x : v) {
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
    m.mean += x;
  }
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.std += (x - m.mean) * (x - m.mean);
  m.std = std::sqrt(m.std / static_cast<double>(v.size()));
  return m;
}

// A small model with a parameter, a buffer and nested children, built from a seeded generator.
class Net : public nn::Module {
 public:
  explicit Net(Generator& gen) {
    features = register_module("features", nn::Sequential(nn::Linear(4, 8, true, gen), nn::ReLU(),
                                                          nn::Linear(8, 6, true, gen)));
    scale = register_parameter("scale", ones({6}));
    steps = register_buffer("steps", zeros({}, {.dtype = DType::i64}));
    head = register_module("head", std::make_shared<nn::Linear>(6, 2, false, gen));
  }
  Tensor forward(const Tensor& x) override { return head->forward(features->forward(x) * scale); }

  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Linear> head;
  Tensor scale;
  Tensor steps;
};

TEST(NnModule, RegistrationOrderAndDottedNames) {
  Generator gen(1);
  Net net(gen);
  EXPECT_EQ(names_of(net.named_parameters()),
            (std::vector<std::string>{"scale", "features.0.weight", "features.0.bias", "features.2.weight",
                                      "features.2.bias", "head.weight"}));
  EXPECT_EQ(names_of(net.named_parameters(/*recurse=*/false)), (std::vector<std::string>{"scale"}));
  EXPECT_EQ(names_of(net.named_buffers()), (std::vector<std::string>{"steps"}));
  std::vector<std::string> children, modules;
  for (const auto& [name, m] : net.named_children()) children.push_back(name);
  for (const auto& [name, m] : net.named_modules()) modules.push_back(name);
  EXPECT_EQ(children, (std::vector<std::string>{"features", "head"}));
  EXPECT_EQ(modules, (std::vector<std::string>{"", "features", "features.0", "features.1", "features.2", "head"}));
  EXPECT_EQ(net.state_dict().keys(),
            (std::vector<std::string>{"scale", "steps", "features.0.weight", "features.0.bias", "features.2.weight",
                                      "features.2.bias", "head.weight"}));
  // Typed handles are the registered tensors and modules.
  EXPECT_TRUE(net.features->at<nn::Linear>(0)->weight().is_same(net.named_parameters()[1].second));
  EXPECT_TRUE(net.head->weight().requires_grad());
  EXPECT_EQ(net.num_parameters(), 6 + 8 * 4 + 8 + 6 * 8 + 6 + 2 * 6);
  // Two builds from the same seed have identical names and values (what every rank relies on).
  Generator gen2(1);
  Net twin(gen2);
  const auto a = net.named_parameters(), b = twin.named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.to_vector<float>(), b[i].second.to_vector<float>());
  }
}

TEST(NnModule, RegistrationErrors) {
  nn::Module m;
  m.register_parameter("w", zeros({2}));
  expect_error([&] { m.register_parameter("w", zeros({2})); }, {"\"w\"", "already in use"});
  expect_error([&] { m.register_buffer("w", zeros({2})); }, {"\"w\"", "already in use"});
  expect_error([&] { m.register_parameter("a.b", zeros({2})); }, {"must not contain '.'"});
  expect_error([&] { m.register_parameter("", zeros({2})); }, {"must not be empty"});
  expect_error([&] { m.register_module("child", std::shared_ptr<nn::Linear>()); }, {"\"child\"", "null"});
  expect_error([&] { m.forward(zeros({1})); }, {"Module", "forward"});
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  expect_error([&] { m.register_parameter("y", x * 2.0); }, {"\"y\"", "leaf"});
}

TEST(NnModule, TiedParametersListedOnceButSavedUnderBothNames) {
  nn::Module m;
  Tensor shared = zeros({3});
  m.register_parameter("a", shared);
  auto child = m.register_module("child", nn::Module());
  child->register_parameter("b", shared);
  EXPECT_EQ(names_of(m.named_parameters()), (std::vector<std::string>{"a"}));
  EXPECT_EQ(m.state_dict().keys(), (std::vector<std::string>{"a", "child.b"}));
  EXPECT_EQ(m.num_parameters(), 3);
}

TEST(NnModule, TrainEvalPropagatesToEveryDescendant) {
  Generator gen(2);
  Net net(gen);
  EXPECT_TRUE(net.is_training());
  net.eval();
  for (const auto& [name, m] : net.named_modules()) EXPECT_FALSE(m->is_training()) << name;
  net.features->train();
  EXPECT_FALSE(net.is_training());
  EXPECT_TRUE((*net.features)[1]->is_training());
  EXPECT_FALSE(net.head->is_training());
  net.train();
  for (const auto& [name, m] : net.named_modules()) EXPECT_TRUE(m->is_training()) << name;
}

// PyTorch's idiom for a frozen BatchNorm: train() overridden to stay in eval; the parent's train() and eval() go
// through the child's train().
struct FrozenBatchNorm2d : nn::BatchNorm2d {
  using nn::BatchNorm2d::BatchNorm2d;
  void train(bool on = true) override {
    nn::BatchNorm2d::train(on);
    training_ = false;
  }
};

TEST(NnModule, TrainCallsTheOverridesOfChildren) {
  auto frozen = std::make_shared<FrozenBatchNorm2d>(2);
  auto inner = std::make_shared<nn::Sequential>(nn::Linear(2, 2), frozen);
  nn::Sequential net(inner, nn::Dropout(0.5));
  net.train();
  EXPECT_TRUE(net.is_training());
  EXPECT_TRUE(inner->is_training());
  EXPECT_TRUE(net[1]->is_training());
  EXPECT_FALSE(frozen->is_training());
  const Tensor running = frozen->running_mean().clone();
  frozen->forward(randn({4, 2, 3, 3}) + 5.0);
  expect_close(frozen->running_mean(), running, 0.0, 0.0);  // eval: the running statistics are left alone
  EXPECT_EQ(frozen->num_batches_tracked().item<int64_t>(), 0);
  net.eval();
  EXPECT_FALSE(inner->is_training());
  net.train();
  EXPECT_FALSE(frozen->is_training());
}

TEST(NnModule, ApplyVisitsChildrenFirst) {
  Generator gen(15);
  Net net(gen);
  std::vector<std::string> order;
  net.apply([&](nn::Module& m) {
    order.push_back(m.type_name());
    if (auto* fc = dynamic_cast<nn::Linear*>(&m)) {
      Tensor w = fc->weight();
      nn::init::constant_(w, 0.5);
    }
  });
  EXPECT_EQ(order, (std::vector<std::string>{"Linear", "ReLU", "Linear", "Sequential", "Linear", "Net"}));
  EXPECT_EQ(moments(net.head->weight()).min, 0.5);
  EXPECT_EQ(moments(net.features->at<nn::Linear>(0)->weight()).max, 0.5);
}

TEST(NnModule, ZeroGradClearsOrZeroes) {
  Generator gen(3);
  Net net(gen);
  net.forward(ones({5, 4})).sum().backward();
  for (const Tensor& p : net.parameters()) ASSERT_TRUE(p.grad().defined());
  net.zero_grad(/*set_to_none=*/false);
  for (const Tensor& p : net.parameters()) EXPECT_EQ(p.grad().sum().item<double>(), 0.0);
  net.zero_grad();
  for (const Tensor& p : net.parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(NnModule, StateDictRoundTripCopiesInPlace) {
  Generator gen_a(4), gen_b(5);
  Net a(gen_a), b(gen_b);
  Tensor x = randn({3, 4}, gen_a);
  EXPECT_NE(a.forward(x).to_vector<float>(), b.forward(x).to_vector<float>());
  Tensor b_weight = b.head->weight();
  const uint32_t version = b_weight.version();
  {
    NoGradGuard no_grad;
    a.steps.fill_(7);
  }
  const auto result = b.load_state_dict(a.state_dict());
  EXPECT_TRUE(result.missing_keys.empty());
  EXPECT_TRUE(result.unexpected_keys.empty());
  EXPECT_TRUE(b.head->weight().is_same(b_weight));  // same tensor, new values
  EXPECT_GT(b_weight.version(), version);
  EXPECT_EQ(b.steps.item<int64_t>(), 7);
  EXPECT_TRUE(b.scale.requires_grad());
  expect_close(b.forward(x), a.forward(x), 0.0, 0.0);
  // state_dict entries share storage with the module (no copy) and carry no autograd history.
  const StateDict state = a.state_dict();
  EXPECT_FALSE(state.at("scale").requires_grad());
  EXPECT_EQ(state.at("scale").raw_data(), a.scale.raw_data());
}

TEST(NnModule, LoadStateDictErrorsNameTheKeys) {
  Generator gen(6);
  Net net(gen);
  const StateDict good = net.state_dict();
  auto without = [&](const std::string& skip) {
    StateDict s;
    for (const auto& [k, v] : good)
      if (k != skip) s.insert(k, v.clone());
    return s;
  };
  StateDict missing = without("features.2.bias");
  expect_error([&] { net.load_state_dict(missing); }, {"missing key(s) \"features.2.bias\""});

  StateDict unexpected = without("");
  unexpected.insert("features.9.weight", zeros({2}));
  expect_error([&] { net.load_state_dict(unexpected); }, {"unexpected key(s) \"features.9.weight\""});

  StateDict mis_shaped = without("head.weight");
  mis_shaped.insert("head.weight", zeros({3, 6}));
  const std::vector<float> before = net.scale.to_vector<float>();
  StateDict mis_shaped_and_changed = without("head.weight");
  mis_shaped_and_changed.set("scale", full({6}, 3.0));
  mis_shaped_and_changed.insert("head.weight", zeros({3, 6}));
  expect_error([&] { net.load_state_dict(mis_shaped_and_changed); },
                          {"size mismatch for \"head.weight\"", "[3, 6]", "[2, 6]"});
  EXPECT_EQ(net.scale.to_vector<float>(), before);  // nothing copied when loading fails
  // Shape mismatches are errors even when not strict; missing/unexpected keys are reported instead.
  EXPECT_THROW(net.load_state_dict(mis_shaped, /*strict=*/false), Error);
  missing.insert("extra", zeros({1}));
  const auto result = net.load_state_dict(missing, /*strict=*/false);
  EXPECT_EQ(result.missing_keys, (std::vector<std::string>{"features.2.bias"}));
  EXPECT_EQ(result.unexpected_keys, (std::vector<std::string>{"extra"}));
}

TEST(NnModule, ToConvertsInPlaceKeepingHandles) {
  Generator gen(7);
  Net net(gen);
  Tensor w = net.head->weight();
  const std::vector<float> values = w.to_vector<float>();
  net.to(DType::f64);
  EXPECT_EQ(w.dtype(), DType::f64);
  EXPECT_EQ(net.head->weight().dtype(), DType::f64);
  EXPECT_EQ(net.steps.dtype(), DType::i64);  // integer buffers keep their type
  EXPECT_TRUE(w.requires_grad());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(w.to_vector<double>()[i], static_cast<double>(values[i]));
  net.forward(ones({2, 4}, {.dtype = DType::f64})).sum().backward();
  EXPECT_EQ(w.grad().dtype(), DType::f64);
}

TEST(NnModule, DescriptionsLikePyTorch) {
  Generator gen(8);
  EXPECT_EQ(nn::Linear(784, 256, true, gen).str(), "Linear(in_features=784, out_features=256, bias=true)");
  EXPECT_EQ(nn::Conv2d({.in_channels = 1, .out_channels = 32, .kernel_size = 3, .padding = 1}, gen).str(),
            "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))");
  EXPECT_EQ(nn::BatchNorm2d(16).str(), "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)");
  EXPECT_EQ(nn::MaxPool2d(2).str(), "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=false)");
  EXPECT_EQ(nn::Embedding({.num_embeddings = 10, .embedding_dim = 3, .padding_idx = -1}, gen).str(),
            "Embedding(10, 3, padding_idx=9)");
  nn::Sequential net(nn::Linear(4, 3, true, gen), nn::ReLU(),
                     nn::Sequential(nn::Dropout(0.25), nn::LayerNorm(Shape{3})), nn::GELU("tanh"));
  EXPECT_EQ(net.str(),
            "Sequential(\n"
            "  (0): Linear(in_features=4, out_features=3, bias=true)\n"
            "  (1): ReLU()\n"
            "  (2): Sequential(\n"
            "    (0): Dropout(p=0.25)\n"
            "    (1): LayerNorm([3], eps=1e-05, elementwise_affine=true)\n"
            "  )\n"
            "  (3): GELU(approximate='tanh')\n"
            ")");
  EXPECT_EQ(Net(gen).type_name(), "Net");  // demangled class name by default
}

TEST(NnModule, SequentialIndexingAndForward) {
  Generator gen(9);
  nn::Sequential net;
  auto fc1 = net.push_back(nn::Linear(3, 5, true, gen));
  net.push_back(std::make_shared<nn::ReLU>());
  auto fc2 = net.push_back(std::make_shared<nn::Linear>(5, 2, false, gen));
  static_assert(std::is_same_v<decltype(fc1), std::shared_ptr<nn::Linear>>);
  EXPECT_EQ(net.size(), 3u);
  EXPECT_EQ(net[1]->type_name(), "ReLU");
  EXPECT_EQ(net.at<nn::Linear>(2), fc2);
  EXPECT_THROW(net.at<nn::Linear>(1), Error);
  EXPECT_THROW(net[3], Error);
  EXPECT_EQ(names_of(net.named_parameters()), (std::vector<std::string>{"0.weight", "0.bias", "2.weight"}));
  Tensor x = randn({4, 3}, gen);
  expect_close(net(x), linear(relu(linear(x, fc1->weight(), fc1->bias())), fc2->weight()), 0.0, 0.0);
  EXPECT_TRUE(nn::Sequential().forward(x).is_same(x)) << "an empty Sequential is the identity, as in PyTorch";
  expect_error([&] { fc1->forward(randn({4, 2}, gen)); }, {"Linear(in_features=3", "[4, 2]"});
}

// Subclasses that override forward, as users write them (a scaled Linear or Conv2d, another activation built on
// ReLU): Sequential must run their forward, not the fused Linear/Conv2d + ReLU of the base classes.
struct DoubledLinear : nn::Linear {
  using nn::Linear::Linear;
  Tensor forward(const Tensor& x) override { return nn::Linear::forward(x) * 2.0; }
};
struct NegatedConv2d : nn::Conv2d {
  using nn::Conv2d::Conv2d;
  Tensor forward(const Tensor& x) override { return -nn::Conv2d::forward(x); }
};
struct ShiftedReLU : nn::ReLU {
  Tensor forward(const Tensor& x) override { return nn::ReLU::forward(x) + 1.0; }
};

TEST(NnModule, SequentialRunsTheForwardOfSubclasses) {
  Generator gen(15);
  auto fc = std::make_shared<DoubledLinear>(3, 4, true, gen);
  auto conv = std::make_shared<NegatedConv2d>(nn::Conv2dOptions{.in_channels = 2, .out_channels = 3, .kernel_size = 3},
                                              gen);
  auto plain = std::make_shared<nn::Linear>(3, 4, true, gen);
  const Tensor x = randn({5, 3}, gen), image = randn({2, 2, 5, 5}, gen);
  expect_close(nn::Sequential({fc, std::make_shared<nn::ReLU>()})(x), relu(fc->forward(x)), 0.0, 0.0);
  expect_close(nn::Sequential({conv, std::make_shared<nn::ReLU>()})(image), relu(conv->forward(image)), 0.0, 0.0);
  expect_close(nn::Sequential({plain, std::make_shared<ShiftedReLU>()})(x), relu(plain->forward(x)) + 1.0, 0.0, 0.0);
  expect_close(nn::Sequential({plain, std::make_shared<nn::ReLU>()})(x), relu(plain->forward(x)), 0.0, 0.0);
}

// PyTorch's Conv2d takes one unbatched image (C, H, W), as Tessera's conv2d and pooling layers do.
TEST(NnModule, Conv2dTakesAnUnbatchedImage) {
  Generator gen(16);
  nn::Conv2d conv({.in_channels = 2, .out_channels = 3, .kernel_size = 3, .padding = 1}, gen);
  const Tensor image = randn({2, 6, 5}, gen);
  Tensor y;
  ASSERT_NO_THROW(y = conv(image));
  EXPECT_EQ(y.shape(), (Shape{3, 6, 5}));
  expect_close(y, conv(image.unsqueeze(0)).squeeze(0), 0.0, 0.0);
  expect_close(nn::Sequential({std::make_shared<nn::Conv2d>(conv), std::make_shared<nn::ReLU>()})(image), relu(y),
               0.0, 0.0);
  expect_error([&] { conv(randn({3, 6, 5}, gen)); }, {"Conv2d(2, 3", "[3, 6, 5]"});
  expect_error([&] { conv(randn({6, 5}, gen)); }, {"Conv2d(2, 3", "[6, 5]"});
}

// --- default initialisations

void expect_uniform(const Tensor& t, double bound, const char* what) {
  const Moments m = moments(t);
  EXPECT_GE(m.min, -bound) << what;
  EXPECT_LE(m.max, bound) << what;
  EXPECT_GT(m.max, 0.95 * bound) << what;  // fills the range
  EXPECT_LT(m.min, -0.95 * bound) << what;
  EXPECT_NEAR(m.mean, 0.0, 0.05 * bound) << what;
  EXPECT_NEAR(m.std, bound / std::sqrt(3.0), 0.03 * bound) << what;
}

TEST(NnInit, LinearAndConvUseKaimingUniformWithSqrt5) {
  Generator gen(10);
  nn::Linear fc(400, 300, true, gen);
  expect_uniform(fc.weight(), 1.0 / std::sqrt(400.0), "Linear weight");
  expect_uniform(fc.bias(), 1.0 / std::sqrt(400.0), "Linear bias");
  nn::Conv2d conv({.in_channels = 16, .out_channels = 64, .kernel_size = {3, 5}, .groups = 2}, gen);
  EXPECT_EQ(conv.weight().shape(), (Shape{64, 8, 3, 5}));
  const double bound = 1.0 / std::sqrt(8.0 * 15.0);
  expect_uniform(conv.weight(), bound, "Conv2d weight");
  const Moments b = moments(conv.bias());
  EXPECT_LE(std::max(-b.min, b.max), bound);
  // Same seed, same values; the default generator is used when none is given.
  Generator again(10);
  EXPECT_EQ(nn::Linear(400, 300, true, again).weight().to_vector<float>(), fc.weight().to_vector<float>());
  manual_seed(11);
  const std::vector<float> w1 = nn::Linear(5, 5).weight().to_vector<float>();
  manual_seed(11);
  EXPECT_EQ(nn::Linear(5, 5).weight().to_vector<float>(), w1);
}

TEST(NnInit, EmbeddingNormalAndNormsOnesZeros) {
  Generator gen(12);
  nn::Embedding emb({.num_embeddings = 1000, .embedding_dim = 64, .padding_idx = 3}, gen);
  const Moments m = moments(emb.weight());
  EXPECT_NEAR(m.mean, 0.0, 0.02);
  EXPECT_NEAR(m.std, 1.0, 0.02);
  EXPECT_EQ(emb.weight().select(0, 3).sum().item<double>(), 0.0);
  EXPECT_EQ(emb.weight().select(0, 3).to_vector<float>(), std::vector<float>(64, 0.0f));
  nn::BatchNorm2d bn(5);
  EXPECT_EQ(bn.weight().to_vector<float>(), std::vector<float>(5, 1.0f));
  EXPECT_EQ(bn.bias().to_vector<float>(), std::vector<float>(5, 0.0f));
  EXPECT_EQ(bn.running_mean().to_vector<float>(), std::vector<float>(5, 0.0f));
  EXPECT_EQ(bn.running_var().to_vector<float>(), std::vector<float>(5, 1.0f));
  EXPECT_EQ(bn.num_batches_tracked().item<int64_t>(), 0);
  EXPECT_EQ(bn.state_dict().keys(),
            (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  nn::BatchNorm1d plain({.num_features = 3, .affine = false, .track_running_stats = false});
  EXPECT_TRUE(plain.state_dict().empty());
  nn::LayerNorm ln(Shape{2, 3});
  EXPECT_EQ(ln.weight().to_vector<float>(), std::vector<float>(6, 1.0f));
  EXPECT_EQ(ln.bias().to_vector<float>(), std::vector<float>(6, 0.0f));
}

TEST(NnInit, InitFunctions) {
  Generator gen(13);
  Tensor w = empty({256, 128, 3}).requires_grad_();  // works on parameters (no-grad inside)
  nn::init::kaiming_normal_(w, 0.0, nn::init::FanMode::fan_in, nn::init::Nonlinearity::relu, gen);
  EXPECT_NEAR(moments(w).std, std::sqrt(2.0 / (128.0 * 3.0)), 0.002);
  nn::init::kaiming_uniform_(w, 0.0, nn::init::FanMode::fan_out, nn::init::Nonlinearity::relu, gen);
  expect_uniform(w, std::sqrt(6.0 / (256.0 * 3.0)), "kaiming_uniform_ fan_out");
  nn::init::xavier_uniform_(w, 2.0, gen);
  expect_uniform(w, 2.0 * std::sqrt(6.0 / (384.0 * 3.0)), "xavier_uniform_");
  nn::init::xavier_normal_(w, 1.0, gen);
  EXPECT_NEAR(moments(w).std, std::sqrt(2.0 / (384.0 * 3.0)), 0.002);
  nn::init::normal_(w, 2.0, 0.5, gen);
  EXPECT_NEAR(moments(w).mean, 2.0, 0.01);
  EXPECT_NEAR(moments(w).std, 0.5, 0.01);
  nn::init::uniform_(w, 1.0, 3.0, gen);
  EXPECT_GE(moments(w).min, 1.0);
  EXPECT_LT(moments(w).max, 3.0);
  nn::init::zeros_(w);
  EXPECT_EQ(moments(w).max, 0.0);
  nn::init::ones_(w);
  EXPECT_EQ(moments(w).min, 1.0);
  nn::init::constant_(w, 0.5);
  EXPECT_EQ(moments(w).mean, 0.5);
  EXPECT_NEAR(nn::init::calculate_gain(nn::init::Nonlinearity::leaky_relu, std::sqrt(5.0)), std::sqrt(1.0 / 3.0),
              1e-15);
  EXPECT_EQ(nn::init::calculate_fan_in_and_fan_out(w), (std::pair<int64_t, int64_t>{384, 768}));
  Tensor v = empty({4});
  EXPECT_THROW(nn::init::kaiming_uniform_(v), Error);
}

// As torch.nn.init, on views too (a column of a weight, a transposed weight): the view is filled with what the same
// generator gives a contiguous tensor of its shape, and the rest of the weight is left alone.
TEST(NnInit, InitFillsViews) {
  Tensor w = zeros({4, 3}).requires_grad_();
  Tensor column = w.select(1, 1);
  Generator gen(21), same(21);
  nn::init::normal_(column, 1.0, 2.0, gen);
  Tensor expected = empty({4});
  nn::init::normal_(expected, 1.0, 2.0, same);
  EXPECT_EQ(w.select(1, 1).to_vector<float>(), expected.to_vector<float>());
  EXPECT_EQ(w.select(1, 0).to_vector<float>(), std::vector<float>(4, 0.0f));
  Tensor wt = zeros({300, 200}).t();
  nn::init::xavier_uniform_(wt, 1.0, gen);
  expect_uniform(wt.contiguous(), std::sqrt(6.0 / 500.0), "xavier_uniform_ on a transposed weight");
}

// --- Dropout has no PyTorch counterpart for its random mask; check its distribution instead.

TEST(NnLayers, DropoutScalesSurvivorsAndIsIdentityInEval) {
  Generator gen(14);
  nn::Dropout drop(0.3, gen);
  Tensor x = ones({20000}, {.dtype = DType::f64});
  const Tensor y = drop(x);
  int64_t zeros_count = 0;
  for (double v : y.to_vector<double>()) {
    if (v == 0.0) ++zeros_count;
    else EXPECT_NEAR(v, 1.0 / 0.7, 1e-12);
  }
  EXPECT_NEAR(static_cast<double>(zeros_count) / 20000.0, 0.3, 0.02);
  drop.eval();
  expect_close(drop(x), x, 0.0, 0.0);
  EXPECT_THROW(nn::Dropout(1.5), Error);
}

TEST(NnLayers, BatchNormCountsBatchesOnlyInTraining) {
  nn::BatchNorm1d bn(3);
  Tensor x = randn({4, 3});
  bn(x);
  bn(x);
  EXPECT_EQ(bn.num_batches_tracked().item<int64_t>(), 2);
  bn.eval();
  bn(x);
  EXPECT_EQ(bn.num_batches_tracked().item<int64_t>(), 2);
  EXPECT_THROW(bn(randn({4, 5})), Error);
  EXPECT_THROW(nn::BatchNorm2d(3)(x), Error);
}

// --- every layer against PyTorch, with identical weights copied into both sides

Tensor pattern_like(const Tensor& t) {  // the upstream gradient, computed the same way in nn_optim.py
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (size_t k = 0; k < v.size(); ++k) v[k] = std::sin(0.37 * static_cast<double>(k) + 0.1);
  return tensor(v, t.shape()).to(t.dtype());
}

struct LayerCase {
  std::string name;
  std::shared_ptr<nn::Module> module;
  Tensor input;
  json request;  // the PyTorch side: module spec, state at construction, input
};

json state_json(const nn::Module& m) {
  json j = json::object();
  for (const auto& [key, value] : m.state_dict()) j[key] = tensor_to_json(value);
  return j;
}

std::vector<LayerCase>& layer_cases() {
  static std::vector<LayerCase> cases = [] {
    std::vector<LayerCase> c;
    Generator gen(2024);
    auto add = [&](const std::string& name, std::shared_ptr<nn::Module> m, json spec, const Shape& shape,
                   bool training = true, DType dtype = DType::f64) {
      m->to(dtype);
      m->train(training);
      Tensor x = randn(shape, gen, {.dtype = dtype});
      c.push_back({name, m, x,
                   {{"op", "module"}, {"module", spec}, {"dtype", dtype_name(dtype)}, {"training", training},
                    {"state", state_json(*m)}, {"input", tensor_to_json(x)}}});
    };
    auto randomize_stats = [&](nn::BatchNormBase& bn) {
      NoGradGuard no_grad;
      Tensor mean = bn.running_mean(), var = bn.running_var(), w = bn.weight(), b = bn.bias();
      mean.copy_(randn(mean.shape(), gen));
      var.copy_(rand(var.shape(), gen) + 0.5);
      if (w.defined()) w.copy_(randn(w.shape(), gen));
      if (b.defined()) b.copy_(randn(b.shape(), gen));
    };

    add("linear", std::make_shared<nn::Linear>(5, 3, true, gen),
        {{"type", "Linear"}, {"args", {{"in_features", 5}, {"out_features", 3}, {"bias", true}}}}, {4, 5});
    add("linear_3d_no_bias", std::make_shared<nn::Linear>(5, 3, false, gen),
        {{"type", "Linear"}, {"args", {{"in_features", 5}, {"out_features", 3}, {"bias", false}}}}, {2, 3, 5});
    add("conv2d", std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in_channels = 3, .out_channels = 4,
                                                                  .kernel_size = 3, .padding = 1}, gen),
        {{"type", "Conv2d"}, {"args", {{"in_channels", 3}, {"out_channels", 4}, {"kernel_size", 3}, {"padding", 1}}}},
        {2, 3, 6, 6});
    add("conv2d_strided_grouped",
        std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in_channels = 4, .out_channels = 6, .kernel_size = {3, 2},
                                                       .stride = {2, 1}, .padding = {1, 0}, .dilation = {1, 2},
                                                       .groups = 2, .bias = false}, gen),
        {{"type", "Conv2d"},
         {"args", {{"in_channels", 4}, {"out_channels", 6}, {"kernel_size", {3, 2}}, {"stride", {2, 1}},
                   {"padding", {1, 0}}, {"dilation", {1, 2}}, {"groups", 2}, {"bias", false}}}},
        {2, 4, 7, 6});
    // f32 runs other kernels (oneDNN convolution, vectorised f32 paths) than f64.
    add("conv2d_f32", std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in_channels = 3, .out_channels = 8,
                                                                      .kernel_size = 3, .stride = 2, .padding = 1}, gen),
        {{"type", "Conv2d"},
         {"args", {{"in_channels", 3}, {"out_channels", 8}, {"kernel_size", 3}, {"stride", 2}, {"padding", 1}}}},
        {2, 3, 9, 9}, true, DType::f32);
    add("linear_f32", std::make_shared<nn::Linear>(20, 7, true, gen),
        {{"type", "Linear"}, {"args", {{"in_features", 20}, {"out_features", 7}}}}, {6, 20}, true, DType::f32);
    add("max_pool2d", std::make_shared<nn::MaxPool2d>(2),
        {{"type", "MaxPool2d"}, {"args", {{"kernel_size", 2}}}}, {2, 3, 6, 7});
    add("max_pool2d_padded_ceil",
        std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions{.kernel_size = 3, .stride = 2, .padding = 1,
                                                             .ceil_mode = true}),
        {{"type", "MaxPool2d"}, {"args", {{"kernel_size", 3}, {"stride", 2}, {"padding", 1}, {"ceil_mode", true}}}},
        {2, 2, 7, 8});
    add("avg_pool2d", std::make_shared<nn::AvgPool2d>(nn::AvgPool2dOptions{.kernel_size = {2, 3}}),
        {{"type", "AvgPool2d"}, {"args", {{"kernel_size", {2, 3}}}}}, {2, 3, 6, 6});
    add("avg_pool2d_padded_exclude",
        std::make_shared<nn::AvgPool2d>(nn::AvgPool2dOptions{.kernel_size = 3, .stride = 2, .padding = 1,
                                                             .count_include_pad = false}),
        {{"type", "AvgPool2d"},
         {"args", {{"kernel_size", 3}, {"stride", 2}, {"padding", 1}, {"count_include_pad", false}}}},
        {2, 2, 7, 7});
    add("adaptive_avg_pool2d", std::make_shared<nn::AdaptiveAvgPool2d>(nn::IntPair{2, 3}),
        {{"type", "AdaptiveAvgPool2d"}, {"args", {{"output_size", {2, 3}}}}}, {2, 3, 7, 8});

    auto bn_case = [&](const std::string& name, std::shared_ptr<nn::BatchNormBase> bn, json args, const Shape& shape,
                       bool training, bool random_stats, DType dtype = DType::f64) {
      if (random_stats) randomize_stats(*bn);
      add(name, bn, {{"type", bn->type_name()}, {"args", args}}, shape, training, dtype);
    };
    bn_case("batch_norm1d_train", std::make_shared<nn::BatchNorm1d>(4), {{"num_features", 4}}, {6, 4}, true, true);
    bn_case("batch_norm1d_3d_cumulative",
            std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions{.num_features = 3, .momentum = std::nullopt}),
            {{"num_features", 3}, {"momentum", nullptr}}, {4, 3, 5}, true, true);
    bn_case("batch_norm2d_train", std::make_shared<nn::BatchNorm2d>(nn::BatchNormOptions{.num_features = 3,
                                                                                         .eps = 1e-3,
                                                                                         .momentum = 0.3}),
            {{"num_features", 3}, {"eps", 1e-3}, {"momentum", 0.3}}, {2, 3, 4, 5}, true, true);
    bn_case("batch_norm2d_eval", std::make_shared<nn::BatchNorm2d>(3), {{"num_features", 3}}, {2, 3, 4, 5}, false,
            true);
    bn_case("batch_norm2d_no_affine_no_stats_eval",
            std::make_shared<nn::BatchNorm2d>(
                nn::BatchNormOptions{.num_features = 3, .affine = false, .track_running_stats = false}),
            {{"num_features", 3}, {"affine", false}, {"track_running_stats", false}}, {2, 3, 4, 5}, false, false);

    bn_case("batch_norm2d_train_f32", std::make_shared<nn::BatchNorm2d>(4), {{"num_features", 4}}, {3, 4, 5, 5}, true,
            true, DType::f32);
    auto ln = std::make_shared<nn::LayerNorm>(nn::LayerNormOptions{.normalized_shape = {3, 4}, .eps = 1e-4});
    {
      NoGradGuard no_grad;
      ln->weight().copy_(randn({3, 4}, gen));
      ln->bias().copy_(randn({3, 4}, gen));
    }
    add("layer_norm", ln, {{"type", "LayerNorm"}, {"args", {{"normalized_shape", {3, 4}}, {"eps", 1e-4}}}},
        {2, 3, 4});
    add("layer_norm_no_affine",
        std::make_shared<nn::LayerNorm>(nn::LayerNormOptions{.normalized_shape = {5}, .elementwise_affine = false}),
        {{"type", "LayerNorm"}, {"args", {{"normalized_shape", {5}}, {"elementwise_affine", false}}}}, {4, 5});

    add("relu", std::make_shared<nn::ReLU>(), {{"type", "ReLU"}}, {3, 4});
    add("gelu", std::make_shared<nn::GELU>(), {{"type", "GELU"}}, {3, 4});
    add("gelu_tanh", std::make_shared<nn::GELU>("tanh"), {{"type", "GELU"}, {"args", {{"approximate", "tanh"}}}},
        {3, 4});
    add("tanh", std::make_shared<nn::Tanh>(), {{"type", "Tanh"}}, {3, 4});
    add("sigmoid", std::make_shared<nn::Sigmoid>(), {{"type", "Sigmoid"}}, {3, 4});
    add("silu", std::make_shared<nn::SiLU>(), {{"type", "SiLU"}}, {3, 4});
    add("leaky_relu", std::make_shared<nn::LeakyReLU>(0.2),
        {{"type", "LeakyReLU"}, {"args", {{"negative_slope", 0.2}}}}, {3, 4});
    add("flatten", std::make_shared<nn::Flatten>(), {{"type", "Flatten"}}, {2, 3, 4});
    add("flatten_middle", std::make_shared<nn::Flatten>(1, 2),
        {{"type", "Flatten"}, {"args", {{"start_dim", 1}, {"end_dim", 2}}}}, {2, 3, 4, 2});
    add("sequential_mlp",
        std::make_shared<nn::Sequential>(nn::Linear(6, 8, true, gen), nn::ReLU(), nn::Linear(8, 3, true, gen)),
        {{"type", "Sequential"},
         {"children", {{{"type", "Linear"}, {"args", {{"in_features", 6}, {"out_features", 8}}}},
                       {{"type", "ReLU"}},
                       {{"type", "Linear"}, {"args", {{"in_features", 8}, {"out_features", 3}}}}}}},
        {5, 6});

    // Embedding takes integer indices; padding_idx rows get no gradient.
    auto emb = std::make_shared<nn::Embedding>(
        nn::EmbeddingOptions{.num_embeddings = 10, .embedding_dim = 4, .padding_idx = 1}, gen);
    emb->to(DType::f64);
    Tensor idx = tensor<int64_t>({1, 2, 3, 4, 1, 9, 2, 2}, {2, 4});
    c.push_back({"embedding", emb, idx,
                 {{"op", "module"},
                  {"module", {{"type", "Embedding"},
                              {"args", {{"num_embeddings", 10}, {"embedding_dim", 4}, {"padding_idx", 1}}}}},
                  {"dtype", "f64"}, {"training", true}, {"state", state_json(*emb)}, {"input", tensor_to_json(idx)}}});
    return c;
  }();
  return cases;
}

// PyTorch's answers for every case, computed in one call on first use.
const json& torch_layer_results() {
  static const json results = [] {
    json requests = json::array();
    for (const LayerCase& c : layer_cases()) requests.push_back(c.request);
    return testing::run_torch_script("nn_optim.py", requests);
  }();
  return results;
}

// Runs case `name` forward and backward (upstream gradient pattern_like) and compares output, input gradient,
// parameter gradients and the state after (running statistics) with PyTorch. Returns a skip reason, or "".
std::string check_layer(const std::string& name) {
  if (!testing::torch_available()) return "python3 with torch not available";
  auto& cases = layer_cases();
  size_t index = 0;
  while (index < cases.size() && cases[index].name != name) ++index;
  if (index == cases.size()) {
    ADD_FAILURE() << "no layer case " << name;
    return "";
  }
  const LayerCase& c = cases[index];
  const json& expected = torch_layer_results()[index];
  Tensor input = c.input.is_floating_point() ? c.input.detach().requires_grad_() : c.input;
  const Tensor out = c.module->forward(input);
  out.backward(pattern_like(out));
  const bool f32 = c.request["dtype"] == "f32";
  const double atol = f32 ? 1e-5 : 1e-10, rtol = f32 ? 1e-4 : 1e-8;
  {
    SCOPED_TRACE(name + " output");
    expect_close(out, testing::tensor_from_json(expected["output"]), atol, rtol);
  }
  if (input.requires_grad()) {
    SCOPED_TRACE(name + " input gradient");
    expect_close(input.grad(), testing::tensor_from_json(expected["input_grad"]), atol, rtol);
  }
  for (const auto& [pname, p] : c.module->named_parameters()) {
    SCOPED_TRACE(name + " gradient of " + pname);
    if (!expected["param_grads"].contains(pname) || !p.grad().defined()) {
      ADD_FAILURE() << "no gradient for " << pname << " on one side";
      continue;
    }
    expect_close(p.grad(), testing::tensor_from_json(expected["param_grads"][pname]), atol, rtol);
  }
  EXPECT_EQ(c.module->named_parameters().size(), expected["param_grads"].size());
  const StateDict after = c.module->state_dict();
  EXPECT_EQ(after.size(), expected["state_after"].size());
  for (const auto& [key, value] : after) {
    SCOPED_TRACE(name + " state " + key);
    if (!expected["state_after"].contains(key)) {
      ADD_FAILURE() << "PyTorch has no state " << key;
      continue;
    }
    expect_close(value.to(DType::f64), testing::tensor_from_json(expected["state_after"][key]).to(DType::f64), atol,
                 rtol);
  }
  return "";
}

#define EXPECT_LAYER_MATCHES_TORCH(name)                      \
  do {                                                        \
    const std::string skip = check_layer(name);               \
    if (!skip.empty()) GTEST_SKIP() << "skipped: " << skip;   \
  } while (0)

TEST(NnTorch, Linear) {
  EXPECT_LAYER_MATCHES_TORCH("linear");
  EXPECT_LAYER_MATCHES_TORCH("linear_f32");
  EXPECT_LAYER_MATCHES_TORCH("linear_3d_no_bias");
}
TEST(NnTorch, Sequential) { EXPECT_LAYER_MATCHES_TORCH("sequential_mlp"); }
TEST(NnTorch, ReLU) { EXPECT_LAYER_MATCHES_TORCH("relu"); }
TEST(NnTorch, Flatten) {
  EXPECT_LAYER_MATCHES_TORCH("flatten");
  EXPECT_LAYER_MATCHES_TORCH("flatten_middle");
}
TEST(NnTorch, Conv2d) {
  EXPECT_LAYER_MATCHES_TORCH("conv2d");
  EXPECT_LAYER_MATCHES_TORCH("conv2d_strided_grouped");
  EXPECT_LAYER_MATCHES_TORCH("conv2d_f32");
}
TEST(NnTorch, MaxPool2d) {
  EXPECT_LAYER_MATCHES_TORCH("max_pool2d");
  EXPECT_LAYER_MATCHES_TORCH("max_pool2d_padded_ceil");
}
TEST(NnTorch, AvgPool2d) {
  EXPECT_LAYER_MATCHES_TORCH("avg_pool2d");
  EXPECT_LAYER_MATCHES_TORCH("avg_pool2d_padded_exclude");
}
TEST(NnTorch, AdaptiveAvgPool2d) { EXPECT_LAYER_MATCHES_TORCH("adaptive_avg_pool2d"); }
TEST(NnTorch, BatchNorm1d) {
  EXPECT_LAYER_MATCHES_TORCH("batch_norm1d_train");
  EXPECT_LAYER_MATCHES_TORCH("batch_norm1d_3d_cumulative");
}
TEST(NnTorch, BatchNorm2d) {
  EXPECT_LAYER_MATCHES_TORCH("batch_norm2d_train");
  EXPECT_LAYER_MATCHES_TORCH("batch_norm2d_eval");
  EXPECT_LAYER_MATCHES_TORCH("batch_norm2d_no_affine_no_stats_eval");
  EXPECT_LAYER_MATCHES_TORCH("batch_norm2d_train_f32");
}
TEST(NnTorch, LayerNorm) {
  EXPECT_LAYER_MATCHES_TORCH("layer_norm");
  EXPECT_LAYER_MATCHES_TORCH("layer_norm_no_affine");
}
TEST(NnTorch, GELU) {
  EXPECT_LAYER_MATCHES_TORCH("gelu");
  EXPECT_LAYER_MATCHES_TORCH("gelu_tanh");
}
TEST(NnTorch, Tanh) { EXPECT_LAYER_MATCHES_TORCH("tanh"); }
TEST(NnTorch, Sigmoid) { EXPECT_LAYER_MATCHES_TORCH("sigmoid"); }
TEST(NnTorch, SiLU) { EXPECT_LAYER_MATCHES_TORCH("silu"); }
TEST(NnTorch, LeakyReLU) { EXPECT_LAYER_MATCHES_TORCH("leaky_relu"); }
TEST(NnTorch, Embedding) { EXPECT_LAYER_MATCHES_TORCH("embedding"); }

}  // namespace
}  // namespace tessera
