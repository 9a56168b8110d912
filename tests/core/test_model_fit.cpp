// Model.fit/evaluate/predict against a hand-written loop over the same batches (bitwise: fit adds nothing to the
// arithmetic), exact masked evaluation, in-process continuation after max_steps, and the stock callbacks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "core/model/model.h"
#include "core/nn/linear.h"
#include "tests/support/test_prelude.h"
#include "tests/support/torch_ref.h"

using namespace tessera;
using model::Model;
using model::TensorBatchSource;

namespace {

const json kMlp = json::parse(R"([{"type": "flatten"}, {"type": "linear", "out_features": 16}, {"type": "tanh"},
                                  {"type": "linear", "out_features": 3}])");

// 3 classes of 2-D points, 50 samples.
std::pair<Tensor, Tensor> toy_data(uint64_t seed, int64_t n = 50) {
  Generator gen(seed);
  Tensor x = randn({n, 1, 2, 2}, gen);
  Tensor y = randint(0, 3, {n}, gen);
  return {x, y};
}

// predict's rows against the model run on all rows at once: within 1e-6, not bitwise, since a GEMM may take another
// kernel, summing in another order, for the last short batch than for the whole (cuBLAS does, and OpenBLAS and
// oneDNN do on an AVX2-only AMD EPYC).
void expect_same_rows(const Tensor& predicted, const Tensor& all_at_once) {
  expect_close(predicted, all_at_once, 1e-6, 1e-6);
}

Model compiled_mlp(uint64_t seed, double lr = 0.1, int64_t gradient_accumulation_steps = 1) {
  manual_seed(seed);
  Model m(kMlp);
  m.build({1, 2, 2});
  m.compile({.optimizer = model::sgd({.lr = lr, .momentum = 0.9}), .loss = "cross_entropy", .metrics = {"accuracy"},
             .gradient_accumulation_steps = gradient_accumulation_steps});
  return m;
}

std::vector<float> flat_parameters(const nn::Module& module) {
  std::vector<float> all;
  for (const auto& p : module.parameters()) {
    auto v = p.to_vector<float>();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

std::string temp_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tessera_fit_" + name + "_" + std::to_string(getpid()))).string();
}

}  // namespace

TEST(ModelFit, EqualsHandWrittenLoopBitwise) {
  auto [x, y] = toy_data(3);
  Model m = compiled_mlp(7);
  // The same model, trained by hand on the same batches.
  manual_seed(7);
  auto reference = model::build_sequential(kMlp, {1, 2, 2}).module;
  optim::SGD sgd(reference->parameters(), {.lr = 0.1, .momentum = 0.9});
  ASSERT_EQ(flat_parameters(m.module()), flat_parameters(*reference));

  TensorBatchSource train(x, y, {.batch_size = 16, .seed = 5});
  const auto history = m.fit(train, {.epochs = 3});
  TensorBatchSource replay(x, y, {.batch_size = 16, .seed = 5});
  double last_epoch_loss = 0;
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    replay.set_epoch(epoch);
    double loss_sum = 0;
    while (auto batch = replay.next()) {
      sgd.zero_grad();
      Tensor loss = cross_entropy((*reference)(batch->x), batch->y);
      loss.backward();
      sgd.step();
      loss_sum += loss.item<double>() * batch->x.size(0);
    }
    last_epoch_loss = loss_sum / 50;
  }
  EXPECT_EQ(flat_parameters(m.module()), flat_parameters(*reference));
  ASSERT_EQ(history.epochs.size(), 3u);
  EXPECT_NEAR(history.epochs[2].at("loss"), last_epoch_loss, 1e-12);
  EXPECT_EQ(m.step(), 3 * 4);
  EXPECT_EQ(m.epoch(), 3);
  EXPECT_DOUBLE_EQ(history.epochs[2].at("lr"), 0.1);
  EXPECT_GT(history.epochs[2].at("samples_per_sec"), 0);
}

// compile's clip_grad_norm is clip_grad_norm_ between backward and step, as a hand-written loop does it, and with a
// small norm it changes the result (the gradients were clipped, not left alone).
TEST(ModelFit, ClipsGradientsByGlobalNormAsAHandWrittenLoop) {
  auto [x, y] = toy_data(3);
  manual_seed(7);
  Model m(kMlp);
  m.build({1, 2, 2});
  m.compile({.optimizer = model::sgd({.lr = 0.1, .momentum = 0.9}), .loss = "cross_entropy", .metrics = {},
             .clip_grad_norm = 0.05});
  manual_seed(7);
  auto reference = model::build_sequential(kMlp, {1, 2, 2}).module;
  optim::SGD sgd(reference->parameters(), {.lr = 0.1, .momentum = 0.9});
  TensorBatchSource train(x, y, {.batch_size = 16, .seed = 5});
  m.fit(train, {.epochs = 2});
  TensorBatchSource replay(x, y, {.batch_size = 16, .seed = 5});
  double largest_norm = 0;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    replay.set_epoch(epoch);
    while (auto batch = replay.next()) {
      sgd.zero_grad();
      cross_entropy((*reference)(batch->x), batch->y).backward();
      largest_norm = std::max(largest_norm, optim::clip_grad_norm_(reference->parameters(), 0.05));
      sgd.step();
    }
  }
  EXPECT_GT(largest_norm, 0.05) << "the test needs steps whose gradients get clipped";
  EXPECT_EQ(flat_parameters(m.module()), flat_parameters(*reference));
  Model unclipped = compiled_mlp(7);
  TensorBatchSource again(x, y, {.batch_size = 16, .seed = 5});
  unclipped.fit(again, {.epochs = 2});
  EXPECT_NE(flat_parameters(unclipped.module()), flat_parameters(m.module()));
  expect_error([] { Model(kMlp).compile({.optimizer = model::sgd({.lr = 0.1}), .clip_grad_norm = -1}); },
               "clip_grad_norm must be a finite norm >= 0");
}

// gradient_accumulation_steps = 3 over 4 batches an epoch: one step for batches 0-2 (each loss / 3) and one for
// batch 3 alone, as a hand-written PyTorch-style loop accumulates them; and with equal micro-batches it is the step
// of one batch 3 times larger (the mean of the micro-batch means is the mean over the big batch).
TEST(ModelFit, AccumulatesGradientsAsAHandWrittenLoop) {
  auto [x, y] = toy_data(3);
  manual_seed(7);
  Model m(kMlp);
  m.build({1, 2, 2});
  m.compile({.optimizer = model::sgd({.lr = 0.1, .momentum = 0.9}), .loss = "cross_entropy", .metrics = {},
             .gradient_accumulation_steps = 3});
  manual_seed(7);
  auto reference = model::build_sequential(kMlp, {1, 2, 2}).module;
  optim::SGD sgd(reference->parameters(), {.lr = 0.1, .momentum = 0.9});
  TensorBatchSource train(x, y, {.batch_size = 16, .seed = 5});  // 16, 16, 16, 2 samples
  m.fit(train, {.epochs = 2});
  TensorBatchSource replay(x, y, {.batch_size = 16, .seed = 5});
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    replay.set_epoch(epoch);
    std::vector<model::Batch> batches;
    while (auto batch = replay.next()) batches.push_back(*batch);
    ASSERT_EQ(batches.size(), 4u);
    for (size_t first = 0; first < batches.size(); first += 3) {
      const size_t group = std::min<size_t>(3, batches.size() - first);
      sgd.zero_grad();
      for (size_t i = first; i < first + group; ++i) {
        Tensor loss = cross_entropy((*reference)(batches[i].x), batches[i].y);
        (group > 1 ? loss / static_cast<double>(group) : loss).backward();
      }
      sgd.step();
    }
  }
  EXPECT_EQ(flat_parameters(m.module()), flat_parameters(*reference));
  EXPECT_EQ(m.step(), 2 * 2) << "two optimizer steps an epoch";

  // 48 samples: 3 micro-batches of 8 per step against one batch of 24, plain SGD.
  auto [x48, y48] = toy_data(4, 48);
  const auto trained = [&](int64_t batch_size, int64_t accumulation) {
    manual_seed(9);
    Model model(kMlp);
    model.build({1, 2, 2});
    model.compile({.optimizer = model::sgd({.lr = 0.5}), .metrics = {}, .gradient_accumulation_steps = accumulation});
    TensorBatchSource source(x48, y48, {.batch_size = batch_size, .shuffle = false});
    model.fit(source, {.epochs = 3});
    EXPECT_EQ(model.step(), 3 * 2);
    return flat_parameters(model.module());
  };
  const std::vector<float> accumulated = trained(8, 3), big_batch = trained(24, 1);
  ASSERT_EQ(accumulated.size(), big_batch.size());
  for (size_t i = 0; i < big_batch.size(); ++i) EXPECT_NEAR(accumulated[i], big_batch[i], 1e-5) << i;
  expect_error([] { Model(kMlp).compile({.optimizer = model::sgd({.lr = 0.1}), .gradient_accumulation_steps = 0}); },
               "gradient_accumulation_steps must be >= 1");
}

TEST(ModelFit, EvaluateCountsOnlyRealSamples) {
  auto [x, y] = toy_data(4, 10);
  Model m = compiled_mlp(1);
  // A source whose one batch repeats 3 samples as padding, like an evaluation sampler's last batch.
  struct Padded : model::BatchSource {
    Tensor x, y;
    bool done = false;
    void set_epoch(int64_t) override { done = false; }
    std::optional<model::Batch> next() override {
      if (done) return std::nullopt;
      done = true;
      Tensor idx = tensor(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2});
      std::vector<uint8_t> valid(13, 1);
      valid[10] = valid[11] = valid[12] = 0;
      return model::Batch{index_select(x, 0, idx), index_select(y, 0, idx), tensor(valid).to(DType::boolean)};
    }
    int64_t batches_per_epoch() const override { return 1; }
    Shape sample_shape() const override { return {1, 2, 2}; }
    int64_t epoch() const override { return 0; }
    int64_t position() const override { return done; }
  } padded;
  padded.x = x;
  padded.y = y;
  const model::Logs logs = m.evaluate(padded);
  NoGradGuard no_grad;
  m.module().eval();
  const Tensor out = m.module()(x);
  EXPECT_NEAR(logs.at("loss"), cross_entropy(out, y).item<double>(), 1e-6);
  const double accuracy = eq(argmax(out, 1), y).to(DType::f64).mean().item<double>();
  EXPECT_DOUBLE_EQ(logs.at("accuracy"), accuracy);
  const Tensor predicted = m.predict(padded);
  EXPECT_EQ(predicted.shape(), (Shape{10, 3}));
  expect_same_rows(predicted, out);
}

// world_size and rank split each epoch's order as PyTorch's DistributedSampler: every rank the same batch count,
// rank r every world-th sample from r, the order padded with its first samples (marked in valid) to a multiple of
// the world; the ranks together read each sample once, and the padding only.
TEST(ModelFit, TensorBatchSourceSplitsLikeDistributedSampler) {
  const Tensor x = arange(0, 11, 1, {.dtype = DType::f32}).view({11, 1});
  const Tensor y = arange(0, 11, 1, {.dtype = DType::i64});
  for (const bool shuffle : {false, true}) {
    std::vector<int64_t> seen;
    int64_t padding = 0, masked_batches = 0;
    for (int64_t rank = 0; rank < 3; ++rank) {
      TensorBatchSource share(x, y, {.batch_size = 2, .shuffle = shuffle, .seed = 4, .world_size = 3, .rank = rank});
      EXPECT_EQ(share.batches_per_epoch(), 2) << "4 rows each, batches of 2";
      share.set_epoch(1);
      while (auto batch = share.next()) {
        masked_batches += batch->valid.defined();
        const auto ids = batch->y.to_vector<int64_t>();
        const auto real = batch->valid.defined() ? batch->valid.to_vector<int64_t>() : std::vector<int64_t>(ids.size(), 1);
        for (size_t i = 0; i < ids.size(); ++i) (real[i] ? seen.push_back(ids[i]) : void(++padding));
      }
    }
    std::sort(seen.begin(), seen.end());
    std::vector<int64_t> every(11);
    std::iota(every.begin(), every.end(), 0);
    EXPECT_EQ(seen, every) << "shuffle " << shuffle;
    EXPECT_EQ(padding, 1) << "12 places for 11 samples";
    EXPECT_EQ(masked_batches, 1) << "only the batch holding the padding carries a mask";
  }
  // Unshuffled, rank 1 of 3 reads samples 1, 4, 7, 10.
  TensorBatchSource rank1(x, y, {.batch_size = 4, .shuffle = false, .world_size = 3, .rank = 1});
  EXPECT_EQ(rank1.next()->y.to_vector<int64_t>(), (std::vector<int64_t>{1, 4, 7, 10}));
  expect_error([&] { TensorBatchSource(x, y, {.world_size = 2, .rank = 2}); }, "rank 2 of world_size 2");
  expect_error([&] { TensorBatchSource(x, y, {.world_size = 0}); }, "world_size >= 1");
}

// Keras refuses to evaluate no data; the logs of nothing (loss 0, accuracy 0) would pass for a result.
TEST(ModelFit, EvaluateOfNoSamplesIsAnError) {
  auto [x, y] = toy_data(4, 10);
  Model m = compiled_mlp(1);
  TensorBatchSource none(narrow(x, 0, 0, 0), narrow(y, 0, 0, 0), {.batch_size = 4, .shuffle = false});
  expect_error([&] { m.evaluate(none); }, "nothing to evaluate: the data has no samples");
  TensorBatchSource ignored(x, full_like(y, model::kIgnoreIndex), {.batch_size = 4, .shuffle = false});
  expect_error([&] { m.evaluate(ignored); }, "every label is the ignore index");
  TensorBatchSource some(x, y, {.batch_size = 4, .shuffle = false});
  EXPECT_GT(m.evaluate(some).at("loss"), 0.0);
}

// evaluate and predict leave a source where it stood: a fit on it afterwards trains every epoch, as one on a fresh
// source (the source used to stand at the end of epoch 0, which fit took for an epoch resumed at its end: the first
// epoch trained nothing, then "no batches for epoch 0").
TEST(ModelFit, EvaluateAndPredictBeforeFitLeaveTheSourceToFit) {
  auto [x, y] = toy_data(8);
  Model fresh = compiled_mlp(2), checked = compiled_mlp(2);
  TensorBatchSource a(x, y, {.batch_size = 16, .seed = 9}), b(x, y, {.batch_size = 16, .seed = 9});
  fresh.fit(a, {.epochs = 2});
  checked.evaluate(b);
  checked.predict(b);
  EXPECT_EQ(b.epoch(), 0);
  EXPECT_EQ(b.position(), 0);
  checked.fit(b, {.epochs = 2});
  EXPECT_EQ(checked.step(), 8);
  EXPECT_EQ(flat_parameters(checked.module()), flat_parameters(fresh.module()));
}

// Keras's predict needs no compile (no loss, no optimizer): it runs in f32. (It read the compile options that
// were never set.)
TEST(ModelFit, PredictNeedsNoCompile) {
  auto [x, y] = toy_data(4, 10);
  manual_seed(2);
  Model m(kMlp);
  m.build({1, 2, 2});
  TensorBatchSource data(x, y, {.batch_size = 4, .shuffle = false});
  const Tensor predicted = m.predict(data);
  NoGradGuard no_grad;
  m.module().eval();
  EXPECT_EQ(predicted.shape(), (Shape{10, 3}));
  expect_same_rows(predicted, m.module()(x));
  // Inputs alone, as Keras's predict(x): the same rows. fit and evaluate name the missing labels (they failed with
  // "operation on an undefined tensor").
  TensorBatchSource inputs(x, Tensor(), {.batch_size = 4});
  expect_close(m.predict(inputs), predicted, 0.0, 0.0);
  m.compile({.optimizer = model::sgd({.lr = 0.1})});
  expect_error([&] { m.fit(inputs); }, "Model::fit: the training batches have no labels (y)");
  expect_error([&] { m.evaluate(inputs); }, "Model::evaluate: the batches have no labels (y)");
}

// As Keras's predict, whose rows line up with the inputs: a source that shuffles for training (TensorBatchSource's
// default) is read in order. It returned the rows of a shuffled epoch 0.
TEST(ModelFit, PredictKeepsTheRowOrderOfAShufflingSource) {
  auto [x, y] = toy_data(4, 10);
  manual_seed(2);
  Model m(kMlp);
  m.build({1, 2, 2});
  TensorBatchSource data(x, y, {.batch_size = 4});  // shuffle on
  const Tensor predicted = m.predict(data);
  NoGradGuard no_grad;
  m.module().eval();
  expect_same_rows(predicted, m.module()(x));
}

// Keras's steps_per_execution: the logs are read, and on_batch_end called, once every N steps (and at an epoch's
// or the run's end); training is the same, and the logs at each read equal those of N = 1 at the same step.
TEST(ModelFit, StepsPerExecutionReadsTheLogsEveryNStepsAndTrainsTheSame) {
  struct Call {
    int64_t step, batch_in_epoch, since;
    double loss;
  };
  struct Recorder : model::Callback {
    std::vector<Call> calls;
    void on_batch_end(model::TrainState& state, const model::Logs& logs) override {
      calls.push_back({state.step, state.batch_in_epoch, state.steps_since_last_batch_end, logs.at("loss")});
    }
  };
  auto [x, y] = toy_data(3);
  const auto fit = [&](int64_t steps_per_execution, int64_t max_steps, Recorder& recorder) {
    manual_seed(7);
    Model m(kMlp);
    m.build({1, 2, 2});
    m.compile({.optimizer = model::sgd({.lr = 0.1, .momentum = 0.9}), .metrics = {"accuracy"},
               .steps_per_execution = steps_per_execution});
    TensorBatchSource train(x, y, {.batch_size = 8, .seed = 5});  // 7 batches an epoch, the last of 2 samples
    const model::History history =
        m.fit(train, {.epochs = 2, .max_steps = max_steps, .callbacks = {std::shared_ptr<Recorder>(&recorder, [](auto*) {})}});
    return std::make_pair(flat_parameters(m.module()), history);
  };
  Recorder every, grouped, stopped;
  const auto [parameters, history] = fit(1, -1, every);
  const auto [grouped_parameters, grouped_history] = fit(3, -1, grouped);
  EXPECT_EQ(grouped_parameters, parameters) << "training does not depend on steps_per_execution";
  ASSERT_EQ(grouped_history.epochs.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    for (const char* key : {"loss", "accuracy"})
      EXPECT_NEAR(grouped_history.epochs[e].at(key), history.epochs[e].at(key), 1e-6) << key << ", epoch " << e;
  }
  ASSERT_EQ(every.calls.size(), 14u);
  const std::vector<int64_t> steps = {3, 6, 7, 10, 13, 14}, positions = {3, 6, 7, 3, 6, 7}, since = {3, 3, 1, 3, 3, 1};
  ASSERT_EQ(grouped.calls.size(), steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(grouped.calls[i].step, steps[i]);
    EXPECT_EQ(grouped.calls[i].batch_in_epoch, positions[i]);
    EXPECT_EQ(grouped.calls[i].since, since[i]);
    EXPECT_NEAR(grouped.calls[i].loss, every.calls[static_cast<size_t>(steps[i] - 1)].loss, 1e-6) << "step " << steps[i];
  }
  fit(3, 5, stopped);  // max_steps inside a group: its steps are read when the run ends
  ASSERT_EQ(stopped.calls.size(), 2u);
  EXPECT_EQ(stopped.calls[1].step, 5);
  EXPECT_EQ(stopped.calls[1].since, 2);

  // "Every k steps" for a callback called every N: a multiple of k among the steps since its previous call.
  model::TrainState state;
  state.step = 6, state.steps_since_last_batch_end = 3;  // steps 4, 5, 6
  EXPECT_TRUE(state.reached_multiple_of(2));
  EXPECT_TRUE(state.reached_multiple_of(5));
  EXPECT_FALSE(state.reached_multiple_of(7));
  EXPECT_FALSE(state.reached_multiple_of(0));
  expect_error([] { Model(kMlp).compile({.optimizer = model::sgd({.lr = 0.1}), .steps_per_execution = 0}); },
               "steps_per_execution must be >= 1");
}

TEST(ModelFit, ContinuesAfterMaxStepsExactlyWhereItStopped) {
  auto [x, y] = toy_data(8);
  Model straight = compiled_mlp(2);
  TensorBatchSource a(x, y, {.batch_size = 16, .seed = 9});
  straight.fit(a, {.epochs = 2});

  Model stopped = compiled_mlp(2);
  TensorBatchSource b(x, y, {.batch_size = 16, .seed = 9});
  stopped.fit(b, {.epochs = 2, .max_steps = 6});  // 4 batches per epoch: stops after batch 2 of epoch 2
  EXPECT_EQ(stopped.step(), 6);
  EXPECT_EQ(stopped.epoch(), 1) << "epoch 2 is not complete";
  EXPECT_NE(flat_parameters(stopped.module()), flat_parameters(straight.module()));
  const model::History continued = stopped.fit(b, {.epochs = 2});
  EXPECT_EQ(stopped.step(), 8);
  EXPECT_EQ(flat_parameters(stopped.module()), flat_parameters(straight.module()));
  // The rate counts the samples trained in this fit's part of the epoch (its last batches, 16 + 2), not the 50 of
  // the whole epoch: it was inflated by the epoch's earlier part.
  const model::Logs& logs = continued.epochs.at(0);
  EXPECT_NEAR(logs.at("samples_per_sec") * logs.at("epoch_seconds"), 18.0, 1e-6);
}

// samples_per_sec counts the rows of x trained (every micro-batch's), not the loss's terms: with every other label
// ignored the loss averages 25 entries, but 50 samples were trained (the rate used to count 25).
TEST(ModelFit, SamplesPerSecondCountsRowsNotLabelledEntries) {
  auto [x, y] = toy_data(5);
  std::vector<int64_t> labels = y.to_vector<int64_t>();
  for (size_t i = 1; i < labels.size(); i += 2) labels[i] = model::kIgnoreIndex;
  Model m = compiled_mlp(3, 0.1, /*gradient_accumulation_steps=*/2);
  TensorBatchSource source(x, tensor(labels, y.shape()), {.batch_size = 8, .seed = 1});
  const model::Logs logs = m.fit(source, {.epochs = 1}).epochs.at(0);
  EXPECT_NEAR(logs.at("samples_per_sec") * logs.at("epoch_seconds"), 50.0, 1e-6);
}

TEST(ModelFit, ContinuesAfterMaxStepsWithGradientAccumulation) {
  auto [x, y] = toy_data(8);
  Model straight = compiled_mlp(2, 0.1, 2);
  TensorBatchSource a(x, y, {.batch_size = 16, .seed = 9});
  straight.fit(a, {.epochs = 2});
  EXPECT_EQ(straight.step(), 4) << "4 batches an epoch, 2 per step";

  Model stopped = compiled_mlp(2, 0.1, 2);
  TensorBatchSource b(x, y, {.batch_size = 16, .seed = 9});
  stopped.fit(b, {.epochs = 2, .max_steps = 3});  // stops after batches 0-1 of epoch 2
  EXPECT_EQ(b.position(), 2);
  EXPECT_EQ(stopped.epoch(), 1);
  stopped.fit(b, {.epochs = 2});
  EXPECT_EQ(stopped.step(), 4);
  EXPECT_EQ(flat_parameters(stopped.module()), flat_parameters(straight.module()));
}

// Issue 14, item 6: a run resumed from an end-of-epoch checkpoint on more ranks has fewer steps per epoch. Fit
// counts progress in epochs: the epochs left are trained, whatever the step count says.
TEST(ModelFit, ResumedWithFewerStepsPerEpochTrainsTheEpochsLeft) {
  auto [x, y] = toy_data(8, 64);
  Model m = compiled_mlp(2);
  TensorBatchSource one_rank(x, y, {.batch_size = 8, .seed = 9});  // 8 steps an epoch
  m.fit(one_rank, {.epochs = 2});
  EXPECT_EQ(m.step(), 16);
  EXPECT_EQ(m.epoch(), 2);
  // As one of two ranks: half the samples, 4 steps an epoch.
  TensorBatchSource two_ranks(x.narrow(0, 0, 32), y.narrow(0, 0, 32), {.batch_size = 8, .seed = 9});
  const model::History history = m.fit(two_ranks, {.epochs = 4});
  EXPECT_EQ(history.epochs.size(), 2u) << "epochs 3 and 4 must train";
  EXPECT_EQ(m.step(), 16 + 2 * 4);
  EXPECT_EQ(m.epoch(), 4);
}

TEST(ModelFit, SummaryBuildErrorsAndCompileErrors) {
  Model lazy(kMlp);
  expect_error([&] { lazy.summary(); }, "not built yet");
  lazy.build({1, 2, 2});
  EXPECT_NE(lazy.summary().find("Total params: 131"), std::string::npos) << lazy.summary();  // 4*16+16 + 16*3+3
  expect_error([&] { lazy.compile({.optimizer = model::sgd({.lr = 0.1}), .loss = "hinge"}); }, "unknown loss 'hinge'");
  auto [x, y] = toy_data(1);
  TensorBatchSource data(x, y);
  expect_error([&] { lazy.fit(data); }, "call compile first");
  // A Model around a module of one's own lists its children and their parameters, as Keras's summary of a
  // subclassed model; a module's parameters outside its children get a row of their own.
  struct Net : nn::Module {
    Net() {
      register_module("encoder", std::make_shared<nn::Linear>(4, 8));
      register_module("head", std::make_shared<nn::Linear>(8, 3, /*bias=*/false));
      register_parameter("scale", ones({3}));
    }
    std::string type_name() const override { return "Net"; }
  };
  const std::string own = Model(std::make_shared<Net>()).summary();
  for (const std::string row : {"Net\n", "encoder (Linear)", "40\n", "head (Linear)", "24\n", "(own parameters)",
                                "3\n", "Total params: 67 (0.26 KiB)", "Trainable params: 67"})
    EXPECT_NE(own.find(row), std::string::npos) << row << " not in\n" << own;
}

// binary_cross_entropy takes logits (BCEWithLogitsLoss): a Keras-style last sigmoid would be applied twice and
// accuracy would stick at the share of one class, silently. Refused.
TEST(ModelFit, BinaryCrossEntropyAfterASigmoidLayerIsRefused) {
  Model m(json::parse(R"([{"type": "flatten"}, {"type": "linear", "out_features": 1}, {"type": "sigmoid"}])"));
  expect_error([&] { m.compile({.optimizer = model::sgd({.lr = 0.1}), .loss = "binary_cross_entropy"}); },
               "binary_cross_entropy takes logits");
}

// A refused compile changes nothing: the model keeps its loss and optimizer (the refusal came after the new loss was
// in place, so evaluate then reported the refused loss).
TEST(ModelFit, ARefusedCompileLeavesTheModelAsItWas) {
  auto [x, y] = toy_data(3, 10);
  manual_seed(2);
  Model m(json::parse(R"([{"type": "flatten"}, {"type": "linear", "out_features": 1}, {"type": "sigmoid"}])"));
  m.build({1, 2, 2});
  m.compile({.optimizer = model::sgd({.lr = 0.1}), .loss = "mse", .metrics = {}});
  const Tensor target = gt(y, 0.0).to(DType::f32).reshape({10, 1});
  TensorBatchSource data(x, target, {.batch_size = 4, .shuffle = false});
  const double before = m.evaluate(data).at("loss");
  expect_error([&] { m.compile({.optimizer = model::sgd({.lr = 0.1}), .loss = "binary_cross_entropy", .metrics = {}}); },
               "binary_cross_entropy takes logits");
  EXPECT_EQ(m.evaluate(data).at("loss"), before);
}

// on_train_begin and on_train_end come in pairs, as in Keras: a fit with nothing left to train calls neither (an
// on_train_end alone, with empty logs and no optimizer, replayed a stopped EarlyStopping's restore).
TEST(ModelCallbacks, AFitWithNothingLeftToTrainCallsNoTrainHooks) {
  struct Hooks : model::Callback {
    int begins = 0, ends = 0;
    void on_train_begin(model::TrainState&) override { ++begins; }
    void on_train_end(model::TrainState&, const model::Logs&) override { ++ends; }
  };
  auto [x, y] = toy_data(2);
  Model m = compiled_mlp(3);
  TensorBatchSource train(x, y, {.batch_size = 25});
  auto hooks = std::make_shared<Hooks>();
  m.fit(train, {.epochs = 1, .callbacks = {hooks}});
  m.fit(train, {.epochs = 1, .callbacks = {hooks}});  // epoch 1 is done: nothing to train
  EXPECT_EQ(hooks->begins, 1);
  EXPECT_EQ(hooks->ends, 1);
}

TEST(ModelCallbacks, CsvLoggerWritesHeaderOnceAndAppendsOnResume) {
  const std::string folder = temp_file("csv_logger_folder");
  std::filesystem::remove_all(folder);
  const std::string path = folder + "/logs/metrics.csv";  // its folders are made, as TensorBoard's are
  auto [x, y] = toy_data(2);
  Model m = compiled_mlp(3);
  TensorBatchSource train(x, y, {.batch_size = 25});
  TensorBatchSource test(x, y, {.batch_size = 20, .shuffle = false});
  auto csv = std::make_shared<model::CsvLogger>(path);
  const auto history = m.fit(train, {.epochs = 2, .validation = &test, .callbacks = {csv}});
  m.fit(train, {.epochs = 3, .validation = &test, .callbacks = {csv}});  // goes on with epoch 3
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0],
            "epoch,step,loss,accuracy,val_loss,val_accuracy,lr,samples_per_sec,epoch_seconds,data_wait_seconds");
  EXPECT_EQ(lines[1].substr(0, 4), "1,2,");
  EXPECT_EQ(lines[3].substr(0, 4), "3,6,");
  char loss[40];
  std::snprintf(loss, sizeof(loss), "%.9g", history.epochs[1].at("val_loss"));
  EXPECT_NE(lines[2].find(loss), std::string::npos) << lines[2];
  std::filesystem::remove_all(folder);
}

// A full disk fails the epoch's row with the file named, not silently (/dev/full: every write fails with ENOSPC).
TEST(ModelCallbacks, CsvLoggerOnAFullDiskIsAnErrorNamingTheFile) {
  if (!std::filesystem::is_character_file("/dev/full")) GTEST_SKIP() << "no /dev/full";
  auto [x, y] = toy_data(2);
  Model m = compiled_mlp(3);
  TensorBatchSource train(x, y, {.batch_size = 25});
  auto csv = std::make_shared<model::CsvLogger>("/dev/full");
  expect_error([&] { m.fit(train, {.epochs = 1, .callbacks = {csv}}); },
               "CsvLogger: cannot write /dev/full: No space left on device");
}

TEST(ModelCallbacks, EarlyStoppingStopsAfterPatienceAndRestoresBest) {
  auto [x, y] = toy_data(5);
  Model m = compiled_mlp(4, /*lr=*/0.0);  // nothing improves
  TensorBatchSource train(x, y, {.batch_size = 25});
  auto stopper = std::make_shared<model::EarlyStopping>(
      model::EarlyStoppingOptions{.monitor = "loss", .patience = 2, .restore_best_weights = true});
  const auto history = m.fit(train, {.epochs = 10, .callbacks = {stopper}});
  // Keras: patience 2 stops after the 2nd epoch in a row without improvement (keras.callbacks.EarlyStopping:
  // wait += 1 per such epoch, stop when wait >= patience).
  EXPECT_EQ(history.epochs.size(), 3u) << "epoch 1 sets the best, epochs 2-3 do not improve, patience 2";
  EXPECT_EQ(stopper->stopped_epoch(), 2);
}

// Keras takes abs(min_delta): a negative one must not turn a flat or rising loss into an improvement.
TEST(ModelCallbacks, EarlyStoppingTakesTheAbsoluteMinDelta) {
  auto [x, y] = toy_data(5);
  Model m = compiled_mlp(4, /*lr=*/0.0);  // nothing improves
  TensorBatchSource train(x, y, {.batch_size = 25});
  auto stopper = std::make_shared<model::EarlyStopping>(
      model::EarlyStoppingOptions{.monitor = "loss", .min_delta = -1e9, .patience = 2});
  const auto history = m.fit(train, {.epochs = 10, .callbacks = {stopper}});
  EXPECT_EQ(history.epochs.size(), 3u);
}

// Keras's start_from_epoch: the epochs before it are not watched, so when nothing improves (lr 0, and min_delta 1e9
// against the last bit of a shuffled epoch's sum) with patience 1 the run stops one epoch after it, not after epoch 2.
TEST(ModelCallbacks, EarlyStoppingStartsWatchingAtStartFromEpoch) {
  auto [x, y] = toy_data(5);
  for (const int64_t start : {0, 3}) {
    Model m = compiled_mlp(4, /*lr=*/0.0);
    TensorBatchSource train(x, y, {.batch_size = 25});
    auto stopper = std::make_shared<model::EarlyStopping>(
        model::EarlyStoppingOptions{.monitor = "loss", .min_delta = 1e9, .patience = 1, .start_from_epoch = start});
    const auto history = m.fit(train, {.epochs = 10, .callbacks = {stopper}});
    EXPECT_EQ(history.epochs.size(), static_cast<size_t>(start + 2)) << "start_from_epoch " << start;
  }
}

// "auto" maximises accuracies, precision and recall, as Keras; minimises losses and the rest.
TEST(ModelCallbacks, AutoModeMaximisesAccuracyPrecisionAndRecall) {
  for (const char* monitor : {"accuracy", "val_top5_accuracy", "val_precision/3", "recall/0"})
    EXPECT_TRUE(model::higher_is_better(monitor)) << monitor;
  for (const char* monitor : {"loss", "val_loss", "lr"}) EXPECT_FALSE(model::higher_is_better(monitor)) << monitor;
}

// restore_best_weights puts the best epoch's weights back when stopping: epoch 1's here (min_delta 1e9: no later
// epoch counts as an improvement) while lr 0.1 moves the weights on through epochs 2-3. The test above trains at lr 0,
// so its weights never change and it passes whether or not anything is restored.
TEST(ModelCallbacks, EarlyStoppingRestoreBestWeightsPutsTheBestEpochBack) {
  auto [x, y] = toy_data(5);
  Model after_epoch_1 = compiled_mlp(4);
  TensorBatchSource first(x, y, {.batch_size = 25});
  after_epoch_1.fit(first, {.epochs = 1});
  for (const bool restore : {false, true}) {
    SCOPED_TRACE(restore ? "restore_best_weights" : "without restore_best_weights");
    Model m = compiled_mlp(4);
    TensorBatchSource train(x, y, {.batch_size = 25});
    auto stopper = std::make_shared<model::EarlyStopping>(model::EarlyStoppingOptions{
        .monitor = "loss", .min_delta = 1e9, .patience = 2, .restore_best_weights = restore});
    const auto history = m.fit(train, {.epochs = 10, .callbacks = {stopper}});
    ASSERT_EQ(history.epochs.size(), 3u);
    EXPECT_EQ(flat_parameters(m.module()) == flat_parameters(after_epoch_1.module()), restore);
  }
}

// ReduceLROnPlateau against torch.optim.lr_scheduler.ReduceLROnPlateau on the same sequence of monitored values
// (improvements, plateaus, cooldown, the min_lr floor, mode max); then a copy restored from its state() half-way
// goes on with the same rates, as a resumed run does.
TEST(ModelCallbacks, ReduceLROnPlateauMatchesPyTorch) {
  if (!tessera::testing::torch_available()) GTEST_SKIP() << "python3 with torch not available";
  const std::vector<double> values = {1.0, 0.9, 0.895, 0.95, 0.9, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85,
                                      0.7, 0.7, 0.7, 0.7,   0.7,  0.7, 0.7, 0.7,  0.7,  0.69, 0.7};
  for (const std::string mode : {"min", "max"}) {
    SCOPED_TRACE(mode);
    const model::ReduceLROnPlateauOptions options{.monitor = "val_loss", .factor = 0.5, .patience = 1,
                                                  .min_delta = 0.01, .cooldown = 2, .min_lr = 0.02, .mode = mode};
    const json request = {{"op", "plateau"}, {"lr", 0.1}, {"values", values},
                          {"options", {{"mode", mode}, {"factor", 0.5}, {"patience", 1}, {"min_delta", 0.01},
                                       {"cooldown", 2}, {"min_lr", 0.02}}}};
    const std::vector<double> torch_lrs =
        tessera::testing::run_torch_script("nn_optim.py", json::array({request}))[0]["lrs"].get<std::vector<double>>();
    Model m = compiled_mlp(1, 0.1);
    model::TrainState state{.model = &m, .optimizer = &m.optimizer()};
    model::ReduceLROnPlateau callback(options);
    callback.on_train_begin(state);
    std::vector<double> lrs;
    std::optional<model::ReduceLROnPlateau> resumed;
    for (size_t i = 0; i < values.size(); ++i) {
      callback.on_epoch_end(state, {{"val_loss", values[i]}});
      lrs.push_back(m.optimizer().lr());
      if (i == 8) {  // a checkpoint: the restored callback sets the reduced rate on a fresh optimizer at train begin
        Model fresh = compiled_mlp(1, 0.1);
        model::TrainState fresh_state{.model = &fresh, .optimizer = &fresh.optimizer()};
        resumed.emplace(options);
        resumed->load_state(json::parse(callback.state().dump()));
        resumed->on_train_begin(fresh_state);
        EXPECT_DOUBLE_EQ(fresh.optimizer().lr(), m.optimizer().lr());
      }
      if (resumed && i > 8) {
        Model other = compiled_mlp(1, lrs[i - 1]);
        model::TrainState other_state{.model = &other, .optimizer = &other.optimizer()};
        resumed->on_epoch_end(other_state, {{"val_loss", values[i]}});
        EXPECT_DOUBLE_EQ(other.optimizer().lr(), lrs[i]) << "epoch " << i;
      }
    }
    ASSERT_EQ(lrs.size(), torch_lrs.size());
    for (size_t i = 0; i < lrs.size(); ++i) EXPECT_NEAR(lrs[i], torch_lrs[i], 1e-12) << "epoch " << i;
    EXPECT_GE(callback.reductions(), 2) << "the sequence must reduce the rate more than once";
  }
  Model scheduled = compiled_mlp(1);
  auto [x, y] = toy_data(2);
  TensorBatchSource train(x, y, {.batch_size = 25});
  scheduled.compile({.optimizer = model::sgd({.lr = 0.1}), .scheduler = [](optim::Optimizer& o, int64_t) {
                       return std::unique_ptr<optim::LRScheduler>(std::make_unique<optim::StepLR>(o, 1, 0.5));
                     }});
  expect_error([&] { scheduled.fit(train, {.callbacks = {std::make_shared<model::ReduceLROnPlateau>()}}); },
               "ReduceLROnPlateau: the model has an LR schedule");
}

TEST(ModelCallbacks, TerminateOnNaNStopsAtTheFirstBadBatch) {
  auto [x, y] = toy_data(6);
  Model m = compiled_mlp(5, /*lr=*/INFINITY);  // the first step makes the weights inf/NaN
  TensorBatchSource train(x, y, {.batch_size = 10});
  auto nan_stop = std::make_shared<model::TerminateOnNaN>();
  m.fit(train, {.epochs = 5, .callbacks = {nan_stop}});
  EXPECT_TRUE(nan_stop->terminated());
  EXPECT_LT(m.step(), 25);
}

TEST(ModelCallbacks, LearningRateSchedulerAndProgressLines) {
  auto [x, y] = toy_data(7);
  Model m = compiled_mlp(6);
  TensorBatchSource train(x, y, {.batch_size = 25});
  auto schedule = std::make_shared<model::LearningRateScheduler>([](int64_t epoch, double lr) { return 0.5 / (1 + epoch); });
  const std::string path = temp_file("progress.txt");
  std::FILE* out = std::fopen(path.c_str(), "w");
  auto progress = std::make_shared<model::ProgressBar>(out);  // not a terminal: one line per epoch
  const auto history = m.fit(train, {.epochs = 3, .callbacks = {schedule, progress}});
  std::fclose(out);
  EXPECT_DOUBLE_EQ(history.epochs[0].at("lr"), 0.5);
  EXPECT_DOUBLE_EQ(history.epochs[2].at("lr"), 0.5 / 3);
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2].rfind("Epoch 3/3 - step 6 - loss: ", 0), 0u) << lines[2];
  EXPECT_NE(lines[2].find("samples/s"), std::string::npos) << lines[2];
  std::filesystem::remove(path);
}

// Keras's LambdaCallback: each function is called where fit calls the matching method, with fit's logs.
TEST(ModelCallbacks, LambdaCallbackCallsItsFunctions) {
  auto [x, y] = toy_data(7);
  Model m = compiled_mlp(6);
  TensorBatchSource train(x, y, {.batch_size = 25});  // 50 samples: 2 batches per epoch
  std::vector<std::string> calls;
  std::vector<double> epoch_losses;
  auto lambda = std::make_shared<model::LambdaCallback>(model::LambdaCallbackFunctions{
      .on_train_begin = [&](model::TrainState&) { calls.push_back("train_begin"); },
      .on_epoch_begin = [&](model::TrainState& s) { calls.push_back("epoch_begin " + std::to_string(s.epoch)); },
      .on_batch_end = [&](model::TrainState& s, const model::Logs&) { calls.push_back("batch " + std::to_string(s.step)); },
      .on_epoch_end = [&](model::TrainState&, const model::Logs& logs) { epoch_losses.push_back(logs.at("loss")); },
  });
  const auto history = m.fit(train, {.epochs = 2, .callbacks = {lambda}});
  EXPECT_EQ(calls, (std::vector<std::string>{"train_begin", "epoch_begin 0", "batch 1", "batch 2", "epoch_begin 1",
                                             "batch 3", "batch 4"}));
  EXPECT_EQ(epoch_losses, (std::vector<double>{history.epochs[0].at("loss"), history.epochs[1].at("loss")}));
  // keep_history false (tessera train): callbacks still get every epoch's logs; the History keeps none of them,
  // which would otherwise grow every epoch (a confusion matrix's classes^2 cells each).
  const auto unkept = m.fit(train, {.epochs = 4, .callbacks = {lambda}, .keep_history = false});
  EXPECT_TRUE(unkept.epochs.empty());
  EXPECT_EQ(epoch_losses.size(), 4u);
}

// A schedule of the current rate (Keras's `lr * 0.5` each epoch) runs once per epoch: an epoch continued from inside
// (fit after max_steps, as a resume) keeps its rate instead of decaying it a second time. A compiled LR schedule,
// which sets the rate every step, would undo the callback's: refused, as Keras refuses it.
TEST(ModelCallbacks, LearningRateSchedulerRunsOncePerEpochAndRefusesACompiledSchedule) {
  auto [x, y] = toy_data(8);
  const auto halve = [] {
    return std::make_shared<model::LearningRateScheduler>([](int64_t epoch, double lr) {
      return epoch == 0 ? lr : lr * 0.5;
    });
  };
  Model straight = compiled_mlp(2);
  TensorBatchSource a(x, y, {.batch_size = 16, .seed = 9});
  const auto history = straight.fit(a, {.epochs = 3, .callbacks = {halve()}});
  Model stopped = compiled_mlp(2);
  TensorBatchSource b(x, y, {.batch_size = 16, .seed = 9});
  const auto schedule = halve();
  stopped.fit(b, {.epochs = 3, .max_steps = 6, .callbacks = {schedule}});  // inside epoch 2
  const auto rest = stopped.fit(b, {.epochs = 3, .callbacks = {schedule}});
  EXPECT_EQ(flat_parameters(stopped.module()), flat_parameters(straight.module()));
  EXPECT_DOUBLE_EQ(rest.epochs.back().at("lr"), history.epochs.back().at("lr"));

  Model scheduled = compiled_mlp(1);
  scheduled.compile({.optimizer = model::sgd({.lr = 0.1}), .scheduler = [](optim::Optimizer& o, int64_t) {
                       return std::unique_ptr<optim::LRScheduler>(std::make_unique<optim::StepLR>(o, 1, 0.5));
                     }});
  TensorBatchSource c(x, y, {.batch_size = 16});
  expect_error([&] { scheduled.fit(c, {.epochs = 1, .callbacks = {halve()}}); }, "the model has an LR schedule");
}

// Every metric is printed, as Keras prints them, not only loss and accuracy.
TEST(ModelCallbacks, ProgressLinesShowEveryMetric) {
  auto [x, y] = toy_data(7);
  manual_seed(6);
  Model m(kMlp);
  m.build({1, 2, 2});
  m.compile({.optimizer = model::sgd({.lr = 0.1}), .metrics = {"accuracy", "top2_accuracy"}});
  TensorBatchSource train(x, y, {.batch_size = 25}), test(x, y, {.batch_size = 25, .shuffle = false});
  const std::string path = temp_file("metrics_progress.txt");
  std::FILE* out = std::fopen(path.c_str(), "w");
  m.fit(train, {.epochs = 1, .validation = &test, .callbacks = {std::make_shared<model::ProgressBar>(out)}});
  std::fclose(out);
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  for (const char* key : {" - top2_accuracy: ", " - val_top2_accuracy: ", " - val_accuracy: ", " - lr: "})
    EXPECT_NE(line.find(key), std::string::npos) << key << " in " << line;
  std::filesystem::remove(path);
}
