// Autocast's cast cache (core/amp/cast_cache.h): a parameter's bf16/f16 conversion is made once and rewritten by the
// optimizer's step. Training with it is bitwise training without it (eagerly, replayed from a graph, and both mixed),
// an in-place write or new storage is seen by the next cast, a copy rewritten after autograd saved it fails
// backward, and copies go with their parameters. Runs on every device.
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "core/amp/autocast.h"
#include "core/amp/cast_cache.h"
#include "core/backend_of.h"
#include "core/graph.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"
#include "tests/support/allocations.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

std::shared_ptr<nn::Sequential> make_model(uint64_t seed) {
  manual_seed(seed);
  auto model = std::make_shared<nn::Sequential>(nn::Linear(6, 8), nn::ReLU(), nn::Linear(8, 3));
  model->to(default_device());
  return model;
}

struct Batches {
  std::vector<Tensor> x, y;
};

Batches make_batches(int count) {
  manual_seed(11);
  Batches b;
  for (int i = 0; i < count; ++i) {
    b.x.push_back(randn({5, 6}, default_generator(), {.device = default_device()}));
    b.y.push_back(randint(0, 3, {5}, default_generator(), {.dtype = DType::i64, .device = default_device()}));
  }
  return b;
}

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

struct Trace {
  std::vector<float> losses;
  std::vector<std::vector<float>> params;  // after the last step
};

Tensor step(nn::Module& model, optim::Optimizer& optimizer, const Tensor& x, const Tensor& y, DType low, bool cache) {
  optimizer.zero_grad();
  Tensor loss;
  {
    amp::AutocastGuard autocast(low, true, cache);
    loss = cross_entropy(model(x), y);
  }
  loss.backward();
  optimizer.step();
  return loss.detach();
}

std::vector<float> converted(const Tensor& t, DType low) { return t.detach().to(low).to_vector<float>(); }

// Every parameter's cached copy is its conversion, bit for bit.
void expect_copies_current(nn::Module& model, DType low, const std::string& what) {
  for (const Tensor& p : model.parameters()) {
    const Tensor copy = amp::current_copy(p);
    ASSERT_TRUE(copy.defined()) << what;
    EXPECT_EQ(copy.dtype(), low) << what;
    EXPECT_EQ(copy.to_vector<float>(), converted(p, low)) << what;
  }
}

// Steps on batch k; after step `write_after`, every parameter is halved in place (as a checkpoint load writes it).
Trace train_eagerly(const Batches& batches, const MakeOptimizer& make_optimizer, DType low, bool cache,
                    int write_after = -1) {
  auto model = make_model(5);
  auto optimizer = make_optimizer(model->parameters());
  Trace trace;
  for (size_t k = 0; k < batches.x.size(); ++k) {
    trace.losses.push_back(step(*model, *optimizer, batches.x[k], batches.y[k], low, cache).item<float>());
    if (cache) expect_copies_current(*model, low, "after step " + std::to_string(k));
    if (static_cast<int>(k) == write_after) {
      NoGradGuard no_grad;
      for (Tensor p : model->parameters()) p.mul_(0.5);
    }
  }
  for (const Tensor& p : model->parameters()) trace.params.push_back(p.to_vector<float>());
  return trace;
}

void expect_same(const Trace& actual, const Trace& expected, const std::string& what) {
  EXPECT_EQ(actual.losses, expected.losses) << what;
  ASSERT_EQ(actual.params.size(), expected.params.size()) << what;
  for (size_t i = 0; i < expected.params.size(); ++i) EXPECT_EQ(actual.params[i], expected.params[i]) << what << " " << i;
}

std::vector<std::pair<std::string, MakeOptimizer>> optimizers() {
  return {
      {"SGD", [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions{.lr = 0.05, .momentum = 0.9,
                                                                              .weight_decay = 0.01, .nesterov = true});
       }},
      {"Adam", [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 0.01});
       }},
      {"AdamW", [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::AdamW>(std::move(p),
                                               optim::AdamWOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
       }},
  };
}

TEST(CastCache, TrainingWithCachedCopiesIsBitwiseTrainingWithout) {
  const Batches batches = make_batches(4);
  for (DType low : {DType::bf16, DType::f16})
    for (const auto& [name, make] : optimizers()) {
      const std::string what = name + " " + dtype_name(low);
      const Trace converting = train_eagerly(batches, make, low, /*cache=*/false);
      const Trace cached = train_eagerly(batches, make, low, /*cache=*/true);
      expect_same(cached, converting, what);
      EXPECT_NE(converting.losses[0], converting.losses[3]) << what;  // the weights did change
    }
}

TEST(CastCache, AnInPlaceWriteIsSeenByTheNextCast) {
  const Batches batches = make_batches(4);
  const MakeOptimizer adam = optimizers()[1].second;
  expect_same(train_eagerly(batches, adam, DType::bf16, true, /*write_after=*/1),
              train_eagerly(batches, adam, DType::bf16, false, /*write_after=*/1), "halved after step 1");

  auto model = make_model(6);
  const Tensor w = model->parameters().front();
  {
    amp::AutocastGuard autocast(DType::bf16);
    (void)(*model)(batches.x[0]);
  }
  ASSERT_TRUE(amp::current_copy(w).defined());
  {
    NoGradGuard no_grad;
    Tensor(w).mul_(2.0);
  }
  EXPECT_FALSE(amp::current_copy(w).defined());  // stale until the next cast
  Tensor cached, converting;
  {
    amp::AutocastGuard autocast(DType::bf16);
    cached = (*model)(batches.x[0]);
  }
  {
    amp::AutocastGuard autocast(DType::bf16, true, /*cache=*/false);
    converting = (*model)(batches.x[0]);
  }
  EXPECT_EQ(cached.to_vector<float>(), converting.to_vector<float>());
  EXPECT_EQ(amp::current_copy(w).to_vector<float>(), converted(w, DType::bf16));
}

TEST(CastCache, ASecondForwardConvertsNoParameter) {
  const Batches batches = make_batches(1);
  auto model = make_model(7);
  auto forward = [&](bool cache) {
    amp::AutocastGuard autocast(DType::bf16, true, cache);
    (void)(*model)(batches.x[0]);
  };
  forward(true);  // makes the copies
  const size_t cached = testing::allocations_of([&] { forward(true); });
  const size_t converting = testing::allocations_of([&] { forward(false); });
  EXPECT_EQ(converting - cached, model->parameters().size());  // one conversion per parameter saved
}

TEST(CastCache, ACopyRewrittenAfterAutogradSavedItFailsBackward) {
  const Batches batches = make_batches(2);
  auto model = make_model(8);
  optim::SGD optimizer(model->parameters(), {.lr = 0.1});
  step(*model, optimizer, batches.x[0], batches.y[0], DType::bf16, true);
  Tensor loss;
  {
    amp::AutocastGuard autocast(DType::bf16);
    loss = cross_entropy((*model)(batches.x[1]), batches.y[1]);
  }
  optimizer.step();  // with the first step's gradients: rewrites the copies the forward saved
  expect_error([&] { loss.backward(); }, "has been modified by an in-place operation");
}

TEST(CastCache, CopiesGoWithTheirParametersAndClearDropsThem) {
  amp::clear_cast_cache();
  const Batches batches = make_batches(1);
  auto forward = [&](nn::Module& model) {
    amp::AutocastGuard autocast(DType::f16);
    (void)model(batches.x[0]);
  };
  auto a = make_model(9);
  forward(*a);
  EXPECT_EQ(amp::cast_cache_size(), 4u);
  {
    auto b = make_model(10);
    forward(*b);
    EXPECT_EQ(amp::cast_cache_size(), 8u);
  }
  EXPECT_EQ(amp::cast_cache_size(), 4u);
  const size_t allocated = backend_of(default_device()).memory_stats().allocated_bytes;
  amp::clear_cast_cache();
  EXPECT_EQ(amp::cast_cache_size(), 0u);
  EXPECT_LT(backend_of(default_device()).memory_stats().allocated_bytes, allocated);  // the copies were freed
  forward(*a);
  EXPECT_EQ(amp::cast_cache_size(), 4u);
  amp::clear_cast_cache();
}

// A captured step reads the copies in its forward and rewrites them in its optimizer step; a write to the parameters
// between replays (versions the replays themselves never bump) is caught before the next replay, and clearing the
// cache leaves the graph's copies alive.
TEST(CastCache, GraphReplaysEqualEagerStepsAcrossAWriteAndAClear) {
  if (default_device().is_cpu()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  const Batches batches = make_batches(6);
  const MakeOptimizer adamw = optimizers()[2].second;
  const Trace eager = train_eagerly(batches, adamw, DType::bf16, /*cache=*/false, /*write_after=*/2);

  auto model = make_model(5);
  auto optimizer = adamw(model->parameters());
  Trace graphed;
  graphed.losses.push_back(step(*model, *optimizer, batches.x[0], batches.y[0], DType::bf16, true).item<float>());
  Tensor x = batches.x[1].clone(), y = batches.y[1].clone(), loss;
  DeviceGraph graph(default_device());
  graph.capture([&] { loss = step(*model, *optimizer, x, y, DType::bf16, true); });
  for (size_t k = 1; k < batches.x.size(); ++k) {
    x.copy_(batches.x[k]);
    y.copy_(batches.y[k]);
    graph.replay();
    graphed.losses.push_back(loss.item<float>());
    if (k == 2) {
      NoGradGuard no_grad;
      for (Tensor p : model->parameters()) p.mul_(0.5);
    }
    if (k == 3) amp::clear_cast_cache();
  }
  for (const Tensor& p : model->parameters()) graphed.params.push_back(p.to_vector<float>());
  expect_same(graphed, eager, "graph");
  expect_copies_current(*model, DType::bf16, "after the replays");
}

// Module::to gives parameters new storage, whose version starts again at 0: a copy of the old storage at an equal
// version is still stale.
TEST(CastCache, NewStorageAtAnEqualVersionIsSeen) {
  const Batches batches = make_batches(1);
  auto model = make_model(12);
  const Tensor w = model->parameters().front();
  auto forward = [&](bool cache) {
    amp::AutocastGuard autocast(DType::bf16, true, cache);
    return (*model)(batches.x[0]).to_vector<float>();
  };
  model->to(DType::f64);
  model->to(DType::f32);  // new storage, at version 0
  (void)forward(true);
  const uint32_t version = w.version();
  model->to(DType::f64);
  {
    NoGradGuard no_grad;
    for (Tensor p : model->parameters()) p.mul_(0.5);
  }
  model->to(DType::f32);
  ASSERT_EQ(w.version(), version);  // what makes it a test of the storage check
  EXPECT_FALSE(amp::current_copy(w).defined());
  EXPECT_EQ(forward(true), forward(false));
}

// Eager steps between replays (GraphedStep runs a batch of another shape eagerly) and a copy the graph does not hold
// (stale when the capture began, so the graph converts in itself): a replay's step bumps the parameters' versions as
// an eager step does, so the next eager cast sees the replay's update.
TEST(CastCache, EagerStepsBetweenReplaysSeeTheReplaysUpdates) {
  if (default_device().is_cpu()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  const Batches batches = make_batches(1);
  const Tensor &x = batches.x[0], &y = batches.y[0];
  auto model = make_model(13);
  optim::SGD optimizer(model->parameters(), {.lr = 0.1});
  step(*model, optimizer, x, y, DType::bf16, true);
  {
    NoGradGuard no_grad;
    for (Tensor p : model->parameters()) p.mul_(0.5);  // stale at capture
  }
  DeviceGraph graph(default_device());
  graph.capture([&] { step(*model, optimizer, x, y, DType::bf16, true); });
  graph.replay();
  step(*model, optimizer, x, y, DType::bf16, true);  // refreshes the copies and marks them current
  graph.replay();                                    // updates the parameters
  for (const Tensor& p : model->parameters()) EXPECT_FALSE(amp::current_copy(p).defined());  // the replay's update
  Tensor cached, converting;
  {
    amp::AutocastGuard autocast(DType::bf16);
    cached = (*model)(x);
  }
  {
    amp::AutocastGuard autocast(DType::bf16, true, /*cache=*/false);
    converting = (*model)(x);
  }
  EXPECT_EQ(cached.to_vector<float>(), converting.to_vector<float>());
}

// Two graphs holding different copies of the same parameters (the cache cleared between their captures): replaying
// the training graph leaves the evaluation graph's copies stale, and its next replay refreshes them.
TEST(CastCache, TwoGraphsWithTheirOwnCopiesStayInStep) {
  if (default_device().is_cpu()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  const Batches batches = make_batches(1);
  const Tensor &x = batches.x[0], &y = batches.y[0];
  auto model = make_model(14);
  optim::SGD optimizer(model->parameters(), {.lr = 0.1});
  step(*model, optimizer, x, y, DType::bf16, true);
  DeviceGraph train(default_device());
  train.capture([&] { step(*model, optimizer, x, y, DType::bf16, true); });
  amp::clear_cast_cache();
  Tensor out;
  auto evaluate = [&] {
    NoGradGuard no_grad;
    amp::AutocastGuard autocast(DType::bf16);
    out = (*model)(x);
  };
  evaluate();  // new copies
  DeviceGraph eval(default_device());
  eval.capture(evaluate);
  for (int k = 0; k < 2; ++k) {
    train.replay();
    eval.replay();
    const std::vector<float> graphed = out.to_vector<float>();
    amp::AutocastGuard autocast(DType::bf16, true, /*cache=*/false);
    NoGradGuard no_grad;
    EXPECT_EQ(graphed, (*model)(x).to_vector<float>()) << "replay " << k;
  }
}

TEST(CastCache, ACopyIsRefusedForAnF64Parameter) {
  const Tensor p = zeros({4}, {.dtype = DType::f64, .device = Device()}), g = zeros_like(p);
  const Tensor copy = zeros({4}, {.dtype = DType::bf16, .device = Device()});
  kernels::OptimizerSlot slot{.param = p.raw_data(), .grad = g.raw_data(), .numel = 4};
  slot.low_precision = copy.raw_data();
  expect_error([&] { backend_of(Device()).sgd_step(DType::f64, {.lr = 0.1}, &slot, 1); },
               "SGD.step: a low-precision copy is kept only for f32 parameters, got f64");
}

}  // namespace
}  // namespace tessera
