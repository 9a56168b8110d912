// DeviceGraph (core/graph.h): a training step captured once and replayed must give exactly what the same steps run
// eagerly give, step by step: dropout masks (the generator's offset moves on per replay), the optimizer's lr
// schedule and Adam's bias corrections (read from device memory), new batches copied into static inputs. Runs on
// the test device (which records and replays as CUDA does) and on a GPU; on the CPU, capture is refused.
#include <gtest/gtest.h>

#include <memory>

#include "core/backend_of.h"
#include "core/graph.h"
#include "core/model/model.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"
#include "core/stream.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

bool graphs_supported() { return !default_device().is_cpu(); }

std::shared_ptr<nn::Sequential> make_model(uint64_t seed) {
  manual_seed(seed);
  auto model = std::make_shared<nn::Sequential>(
      nn::Conv2d({.in_channels = 1, .out_channels = 4, .kernel_size = 3, .padding = 1}), nn::ReLU(),
      nn::MaxPool2d(2), nn::Flatten(), nn::Dropout(0.25), nn::Linear(4 * 4 * 4, 10));
  model->to(default_device());
  return model;
}

struct Batches {
  std::vector<Tensor> x, y;
};

Batches make_batches(int count) {
  manual_seed(99);
  Batches b;
  for (int i = 0; i < count; ++i) {
    b.x.push_back(randn({6, 1, 8, 8}, default_generator(), {.device = default_device()}));
    b.y.push_back(randint(0, 10, {6}, default_generator(), {.dtype = DType::i64, .device = default_device()}));
  }
  return b;
}

// One step: what a hand-written loop does, and what the graph captures.
Tensor train_step(nn::Module& model, optim::Optimizer& optimizer, const Tensor& x, const Tensor& y) {
  optimizer.zero_grad();
  Tensor loss = cross_entropy(model(x), y);
  loss.backward();
  optimizer.step();
  return loss.detach();
}

double scheduled_lr(int step) { return 1e-2 * (1.0 + step) / 4.0; }  // changes every step, as a schedule does

struct Trace {
  std::vector<float> losses;
  std::vector<std::vector<float>> params;  // after the last step
};

template <typename MakeOptimizer>
Trace train_eagerly(const Batches& batches, MakeOptimizer make_optimizer) {
  auto model = make_model(5);
  auto optimizer = make_optimizer(model->parameters());
  manual_seed(7);  // dropout's stream
  Trace trace;
  for (size_t k = 0; k < batches.x.size(); ++k) {
    optimizer->set_lr(scheduled_lr(static_cast<int>(k)));
    const Tensor loss = train_step(*model, *optimizer, batches.x[k], batches.y[k]);
    trace.losses.push_back(loss.item<float>());
  }
  for (const Tensor& p : model->parameters()) trace.params.push_back(p.to_vector<float>());
  return trace;
}

template <typename MakeOptimizer>
Trace train_with_graph(const Batches& batches, MakeOptimizer make_optimizer) {
  auto model = make_model(5);
  auto optimizer = make_optimizer(model->parameters());
  manual_seed(7);
  Trace trace;
  optimizer->set_lr(scheduled_lr(0));
  const Tensor warm_up = train_step(*model, *optimizer, batches.x[0], batches.y[0]);
  trace.losses.push_back(warm_up.item<float>());
  Tensor x = batches.x[1].clone(), y = batches.y[1].clone(), loss;
  DeviceGraph graph(default_device());
  graph.capture([&] { loss = train_step(*model, *optimizer, x, y); });
  for (size_t k = 1; k < batches.x.size(); ++k) {
    x.copy_(batches.x[k]);
    y.copy_(batches.y[k]);
    optimizer->set_lr(scheduled_lr(static_cast<int>(k)));
    graph.replay();
    trace.losses.push_back(loss.item<float>());
  }
  for (const Tensor& p : model->parameters()) trace.params.push_back(p.to_vector<float>());
  return trace;
}

template <typename MakeOptimizer>
void expect_replays_equal_eager_steps(MakeOptimizer make_optimizer) {
  const Batches batches = make_batches(6);
  const Trace eager = train_eagerly(batches, make_optimizer);
  const Trace graphed = train_with_graph(batches, make_optimizer);
  EXPECT_EQ(graphed.losses, eager.losses);
  ASSERT_EQ(graphed.params.size(), eager.params.size());
  for (size_t i = 0; i < eager.params.size(); ++i) EXPECT_EQ(graphed.params[i], eager.params[i]) << "parameter " << i;
  EXPECT_NE(eager.losses[1], eager.losses[2]);  // the batches and the weights did change between replays
}

TEST(Graph, AdamWReplaysEqualEagerStepsWithDropoutAndSchedule) {
  if (!graphs_supported()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  expect_replays_equal_eager_steps([](std::vector<Tensor> params) {
    return std::make_unique<optim::AdamW>(std::move(params), optim::AdamWOptions{.lr = 1e-2, .weight_decay = 0.1});
  });
}

TEST(Graph, SgdNesterovReplaysEqualEagerSteps) {
  if (!graphs_supported()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  expect_replays_equal_eager_steps([](std::vector<Tensor> params) {
    return std::make_unique<optim::SGD>(std::move(params),
                                        optim::SGDOptions{.lr = 1e-2, .momentum = 0.9, .nesterov = true});
  });
}

TEST(Graph, ReplaysAllocateNothing) {
  if (!graphs_supported()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  const Batches batches = make_batches(2);
  auto model = make_model(5);
  optim::Adam optimizer(model->parameters(), {.lr = 1e-3});
  train_step(*model, optimizer, batches.x[0], batches.y[0]);
  Tensor loss;
  DeviceGraph graph(default_device());
  graph.capture([&] { loss = train_step(*model, optimizer, batches.x[1], batches.y[1]); });
  graph.replay();
  synchronize(default_device());
  const kernels::MemoryStats before = backend_of(default_device()).memory_stats();
  for (int i = 0; i < 20; ++i) graph.replay();
  const float last = loss.item<float>();
  const kernels::MemoryStats after = backend_of(default_device()).memory_stats();
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  EXPECT_EQ(after.allocation_count, before.allocation_count);
  EXPECT_TRUE(std::isfinite(last));
}

TEST(Graph, HostReadInsideCaptureIsAnErrorAndTheNextCaptureWorks) {
  if (!graphs_supported()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  const Tensor x = randn({4, 3}, default_generator(), {.device = default_device()});
  {
    DeviceGraph graph(default_device());
    expect_error([&] { graph.capture([&] { (void)(x * 2.0).sum().item<float>(); }); },
                 {"copy_to_host", "while a", "graph is being captured"});
    EXPECT_FALSE(graph.captured());
  }
  Tensor y;
  DeviceGraph graph(default_device());
  graph.capture([&] { y = x * 2.0; });
  graph.replay();
  EXPECT_EQ(y.to_vector<float>(), (x * 2.0).to_vector<float>());
}

// CUDA refuses a captured wait for an event recorded outside the capture (cudaErrorStreamCaptureIsolation) and
// invalidates the capture, even when the event has passed: the backends refuse it first, naming it.
TEST(Graph, WaitInsideCaptureForAnEventRecordedBeforeItIsAnError) {
  if (!graphs_supported()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  const Tensor x = randn({4, 3}, default_generator(), {.device = default_device()});
  Event before(default_device());
  before.record();
  {
    DeviceGraph graph(default_device());
    expect_error([&] { graph.capture([&] { before.wait(); (void)(x * 2.0); }); },
                 {"wait_event", "recorded outside the capture"});
  }
  Tensor y;
  DeviceGraph graph(default_device());
  graph.capture([&] {
    Event inside(default_device());
    inside.record();
    inside.wait();
    y = x * 2.0;
  });
  graph.replay();
  EXPECT_EQ(y.to_vector<float>(), (x * 2.0).to_vector<float>());
}

// A replay is queued on the stream the graph was captured on: elsewhere it would race that stream's eager work
// (which shares its GEMM workspace and pre-capture blocks) and run before inputs queued on the captured stream.
TEST(Graph, ReplayOnAnotherStreamIsAnErrorAndOnTheCapturedOneWorks) {
  if (!graphs_supported()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  const Tensor x = randn({4, 3}, default_generator(), {.device = default_device()});
  Tensor y;
  DeviceGraph graph(default_device());
  graph.capture([&] { y = x * 3.0; });
  {
    Stream side = Stream::create(default_device());
    StreamGuard guard(side);
    expect_error([&] { graph.replay(); }, {"replay_graph", "not the one the graph was captured on"});
  }
  graph.replay();
  EXPECT_EQ(y.to_vector<float>(), (x * 3.0).to_vector<float>());
}

TEST(Graph, OptimizerCapturedBeforeItsFirstStepIsRefused) {
  if (!graphs_supported()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  const Batches batches = make_batches(1);
  auto model = make_model(5);
  optim::AdamW optimizer(model->parameters(), {.lr = 1e-3});
  DeviceGraph graph(default_device());
  expect_error([&] { graph.capture([&] { train_step(*model, optimizer, batches.x[0], batches.y[0]); }); },
               {"AdamW.step captured in a graph before parameter 0 had an eager step"});
}

TEST(Graph, BadTargetInAReplayIsReportedAtTheNextRead) {
  if (!graphs_supported()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  const Tensor logits = randn({4, 10}, default_generator(), {.device = default_device()});
  Tensor target = tensor(std::vector<int64_t>{1, 2, 3, 4}).to(default_device()), loss;
  DeviceGraph graph(default_device());
  graph.capture([&] { loss = cross_entropy(logits, target); });
  graph.replay();
  EXPECT_TRUE(std::isfinite(loss.item<float>()));
  target.copy_(tensor(std::vector<int64_t>{1, 12, 3, 4}).to(default_device()));
  expect_error([&] {
    graph.replay();
    (void)loss.item<float>();
  }, {"12 (at position 1)", "out of range"});
}

// Model::fit of a small CNN on (x, y), with or without cuda_graph: its history, its weights and its replays.
struct FitResult {
  model::History history;
  std::vector<std::vector<float>> params;
  int64_t replays = 0;
};
// TensorBatchSource's batches with the all-true validity mask that io's Loader gives every training batch (what
// `tessera train` feeds Model::fit); with `padded`, one row of each batch is padding, at a position that moves from
// batch to batch, so a replay that kept the captured batch's mask would weight the wrong rows.
class MaskedBatchSource : public model::BatchSource {
 public:
  MaskedBatchSource(model::TensorBatchSource& source, bool padded) : source_(source), padded_(padded) {}
  void set_epoch(int64_t epoch) override { source_.set_epoch(epoch); }
  std::optional<model::Batch> next() override {
    std::optional<model::Batch> batch = source_.next();
    if (!batch) return batch;
    const int64_t n = batch->x.size(0);
    if (!padded_) {
      batch->valid = ones({n}, {.dtype = DType::boolean, .device = batch->x.device()});
      return batch;
    }
    std::vector<int64_t> valid(static_cast<size_t>(n), 1);
    valid[static_cast<size_t>(served_++ % n)] = 0;
    batch->valid = tensor(valid).to(DType::boolean).to(batch->x.device());
    return batch;
  }
  int64_t batches_per_epoch() const override { return source_.batches_per_epoch(); }
  Shape sample_shape() const override { return source_.sample_shape(); }
  int64_t epoch() const override { return source_.epoch(); }
  int64_t position() const override { return source_.position(); }

 private:
  model::TensorBatchSource& source_;
  bool padded_;
  int64_t served_ = 0;
};

FitResult fit_small_cnn(const Tensor& x, const Tensor& y, bool cuda_graph, int64_t steps_per_execution,
                        const std::string& precision = "f32", bool masked = false, bool padded = false) {
  manual_seed(11);
  model::Model m(json::parse(R"([{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
                                 {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"},
                                 {"type": "dropout", "p": 0.2}, {"type": "linear", "out_features": 10}])"));
  m.compile({.optimizer = model::adamw({.lr = 1e-2, .weight_decay = 0.01}),
             .scheduler = [](optim::Optimizer& o, int64_t total) {
               return std::make_unique<optim::WarmupCosineLR>(o, optim::WarmupCosineOptions{
                                                                     .warmup_steps = 2, .total_steps = total});
             },
             .precision = precision,
             .clip_grad_norm = 0.05,
             .steps_per_execution = steps_per_execution});
  model::TensorBatchSource plain(x, y, {.batch_size = 6, .seed = 4});
  MaskedBatchSource with_mask(plain, padded);
  model::BatchSource& train = masked ? static_cast<model::BatchSource&>(with_mask) : plain;
  FitResult result{m.fit(train, {.epochs = 3, .cuda_graph = cuda_graph}), {}, m.graph_replays()};
  for (const Tensor& p : m.module().parameters()) result.params.push_back(p.to_vector<float>());
  return result;
}

// Model::fit with cuda_graph: the same history and weights as without, over epochs whose last batch is smaller
// (that batch runs eagerly between replays), with dropout, a warm-up cosine schedule and gradient clipping (its
// norm stays on the device, so the step can be captured).
TEST(Graph, ModelFitWithCudaGraphEqualsEagerFit) {
  if (!graphs_supported()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  manual_seed(3);
  const Tensor x = randn({22, 1, 8, 8}, default_generator(), {.device = default_device()});
  const Tensor y = randint(0, 10, {22}, default_generator(), {.dtype = DType::i64, .device = default_device()});
  const FitResult eager = fit_small_cnn(x, y, false, 1), graphed = fit_small_cnn(x, y, true, 1);
  // 4 batches an epoch, the last smaller: two warm-up steps, then 1 + 3 + 3 replays.
  EXPECT_EQ(eager.replays, 0);
  EXPECT_EQ(graphed.replays, 7);
  ASSERT_EQ(graphed.history.epochs.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(graphed.history.epochs[e].at("loss"), eager.history.epochs[e].at("loss")) << "epoch " << e;
    EXPECT_EQ(graphed.history.epochs[e].at("accuracy"), eager.history.epochs[e].at("accuracy")) << "epoch " << e;
  }
  EXPECT_EQ(graphed.params, eager.params);
  // The logs of 3 replays read at once: each replay overwrites the graph's output, so fit must have added each
  // step's sums before the next replay (logs summed in another order: equal to rounding).
  const FitResult grouped = fit_small_cnn(x, y, true, 3);
  ASSERT_EQ(grouped.history.epochs.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    for (const char* key : {"loss", "accuracy"}) {
      EXPECT_NEAR(grouped.history.epochs[e].at(key), eager.history.epochs[e].at(key),
                  1e-9 * std::abs(eager.history.epochs[e].at(key)))
          << key << ", epoch " << e << ", steps_per_execution 3";
    }
  }
  EXPECT_EQ(grouped.params, eager.params);
}

// `tessera train`'s batches carry a validity mask (io's Loader); the graph must replay them all the same (it ran every
// step eagerly once, silently). With a padding row that moves from batch to batch, each replay must use its own
// batch's mask (copied into the graph's static mask), not the captured one's.
TEST(Graph, ModelFitWithCudaGraphReplaysBatchesWithAMask) {
  if (!graphs_supported()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  manual_seed(3);
  const Tensor x = randn({22, 1, 8, 8}, default_generator(), {.device = default_device()});
  const Tensor y = randint(0, 10, {22}, default_generator(), {.dtype = DType::i64, .device = default_device()});
  for (const bool padded : {false, true}) {
    SCOPED_TRACE(padded ? "a padding row in every batch" : "all-true masks");
    const FitResult eager = fit_small_cnn(x, y, false, 1, "f32", /*masked=*/true, padded);
    const FitResult graphed = fit_small_cnn(x, y, true, 1, "f32", /*masked=*/true, padded);
    EXPECT_EQ(graphed.replays, 7);
    ASSERT_EQ(graphed.history.epochs.size(), 3u);
    for (size_t e = 0; e < 3; ++e)
      EXPECT_EQ(graphed.history.epochs[e].at("loss"), eager.history.epochs[e].at("loss")) << "epoch " << e;
    EXPECT_EQ(graphed.params, eager.params);
  }
}

// A sample that fit_small_cnn's shuffle puts into one of the first 3 (full) batches of epoch 2 or 3: a step that
// runs as a graph replay.
int64_t sample_of_a_replay() {
  model::TensorBatchSource order(arange(22, {.dtype = DType::f32}).reshape({22, 1}), zeros({22}, {.dtype = DType::i64}),
                                 {.batch_size = 6, .seed = 4});
  order.set_epoch(1);
  return static_cast<int64_t>(order.next()->x.to_vector<float>()[0]);
}

// f16 with loss scaling as a graph: the scaler's skip is decided on the device, so the step is captured too. One
// sample too large for f16 makes its batch's gradients inf in each epoch: a replay in epoch 2 (and wherever the
// shuffle puts it in the others: a warm-up step, a replay or the eager last batch). Those steps are skipped alike
// with and without the graph.
TEST(Graph, ModelFitF16WithCudaGraphEqualsEagerFit) {
  if (!graphs_supported()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  manual_seed(3);
  Tensor x = randn({22, 1, 8, 8}, default_generator(), {.device = default_device()});
  x.select(0, sample_of_a_replay()).mul_(1e6);  // beyond f16's 65,504: inf in the first convolution
  const Tensor y = randint(0, 10, {22}, default_generator(), {.dtype = DType::i64, .device = default_device()});
  const FitResult eager = fit_small_cnn(x, y, false, 1, "f16"), graphed = fit_small_cnn(x, y, true, 1, "f16");
  EXPECT_GE(graphed.replays, 6) << "the full batches of epochs 2 and 3 at least";
  ASSERT_EQ(graphed.history.epochs.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    const double a = graphed.history.epochs[e].at("accuracy"), b = eager.history.epochs[e].at("accuracy");
    EXPECT_EQ(a, b) << "epoch " << e;
  }
  EXPECT_EQ(graphed.params, eager.params);
  for (const std::vector<float>& p : graphed.params)
    for (float v : p) ASSERT_TRUE(std::isfinite(v)) << "a step with inf gradients was taken";
}

TEST(Graph, ModelFitWithCudaGraphOnTheCpuIsAClearError) {
  if (graphs_supported()) GTEST_SKIP() << "a device with graphs";
  model::Model m(json::parse(R"([{"type": "flatten"}, {"type": "linear", "out_features": 3}])"));
  m.compile({.optimizer = model::sgd({.lr = 0.1})});
  model::TensorBatchSource train(randn({12, 4}), randint(0, 3, {12}, default_generator(), {.dtype = DType::i64}),
                                 {.batch_size = 2});
  expect_error([&] { m.fit(train, {.cuda_graph = true}); }, {"cuda_graph", "CUDA graphs need the model on a GPU"});
}

TEST(Graph, CpuRefusesToCapture) {
  DeviceGraph graph(Device("cpu"));
  expect_error([&] { graph.capture([] {}); }, {"graph capture needs a CUDA device", "cpu"});
}

}  // namespace
}  // namespace tessera
