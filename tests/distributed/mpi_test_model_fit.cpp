// Model.fit under mpirun with dist::DataParallelContext: N ranks, each fed its slice of every global batch, end
// with the parameters and logs of one process trained on the whole global batches, and agree on every number.
#include <gtest/gtest.h>

#include "core/model/model.h"
#include "core/nn/nn.h"
#include "distributed/dist.h"
#include "tests/support/nccl_on_cpu/nccl_on_cpu.h"
#include "tests/support/test_prelude.h"

using namespace tessera;

namespace {

const json kMlp = json::parse(R"([{"type": "flatten"}, {"type": "linear", "out_features": 12}, {"type": "relu"},
                                  {"type": "linear", "out_features": 4}])");

// Rank r's part of each global batch of a fixed order: rows [r*b, (r+1)*b) of global batch i, b = B / world.
struct RankShare : model::BatchSource {
  Tensor x, y;
  int64_t global_batch, rank, world, epoch_ = 0, position_ = 0;
  void set_epoch(int64_t epoch) override { epoch_ = epoch, position_ = 0; }
  std::optional<model::Batch> next() override {
    if (position_ == batches_per_epoch()) return std::nullopt;
    const int64_t local = global_batch / world;
    const int64_t start = position_++ * global_batch + rank * local;
    return model::Batch{x.narrow(0, start, local).contiguous(), y.narrow(0, start, local).contiguous(), Tensor()};
  }
  int64_t batches_per_epoch() const override { return x.size(0) / global_batch; }
  Shape sample_shape() const override { return {1, 3, 3}; }
  int64_t epoch() const override { return epoch_; }
  int64_t position() const override { return position_; }
};

std::vector<double> flat(const nn::Module& module) {
  std::vector<double> all;
  for (const auto& p : module.parameters()) {
    auto v = p.to_vector<double>();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

}  // namespace

// Counts the micro-batches that skip the gradient all-reduce (gradient accumulation).
struct CountingContext : dist::DataParallelContext {
  CountingContext() : dist::DataParallelContext(tessera::testing::communicator_under_test(default_device())) {}
  int64_t local_only = 0;
  int64_t reads = 0;  // the logs' sums, read and summed over ranks
  void allreduce_sum(std::vector<double>& values) override {
    ++reads;
    dist::DataParallelContext::allreduce_sum(values);
  }
  std::shared_ptr<void> no_sync(nn::Module& wrapped) override {
    auto guard = dist::DataParallelContext::no_sync(wrapped);
    local_only += guard != nullptr;
    return guard;
  }
};

// Under f16, one sample of rank 0's share of the third global batch is too large for f16, so its gradients are inf
// on rank 0 only: the averaged gradients carry the inf to every rank and every rank skips that step alike:
// the loss scaler unscales after the all-reduce. The single process skips it too. f16 GEMMs round their sums over
// a rank's rows, so the comparison with one process is to f16's precision there.
void expect_matches_one_process(int64_t accumulation, int64_t steps_per_execution = 1,
                                const std::string& precision = "f32") {
  auto context = std::make_shared<CountingContext>();
  const int world = context->size(), rank = context->rank();
  const int64_t global_batch = 8 * world;
  Generator gen(11);
  Tensor x = randn({global_batch * 5, 1, 3, 3}, gen);
  Tensor y = randint(0, 4, {global_batch * 5}, gen);
  const bool f16 = precision == "f16";
  if (f16) x.select(0, 2 * global_batch + 1).mul_(1e6);
  const double tolerance = f16 ? 2e-2 : 1e-5;
  const model::CompileOptions compile{.optimizer = model::sgd({.lr = 0.2, .momentum = 0.9}),
                                      .loss = "cross_entropy", .metrics = {"accuracy"},
                                      .precision = precision,
                                      .gradient_accumulation_steps = accumulation};

  manual_seed(5);
  model::Model single(kMlp);
  single.build({1, 3, 3});
  single.compile(compile);
  model::TensorBatchSource all(x, y, {.batch_size = global_batch, .shuffle = false});
  const auto expected = single.fit(all, {.epochs = 3});

  manual_seed(100 + rank);  // different initial weights per rank: DDP must start every rank from rank 0's
  if (rank == 0) manual_seed(5);
  model::Model parallel(kMlp, context);
  parallel.build({1, 3, 3});
  model::CompileOptions parallel_compile = compile;
  parallel_compile.steps_per_execution = steps_per_execution;
  parallel.compile(parallel_compile);
  RankShare share;
  share.x = x, share.y = y, share.global_batch = global_batch, share.rank = rank, share.world = world;
  const auto history = parallel.fit(share, {.epochs = 3});

  // 5 batches an epoch: groups of `accumulation`, all but the last batch of each without an all-reduce.
  const int64_t steps_per_epoch = (5 + accumulation - 1) / accumulation;
  EXPECT_EQ(parallel.step(), 3 * steps_per_epoch);
  EXPECT_EQ(context->local_only, world > 1 ? 3 * (5 - steps_per_epoch) : 0);
  // A read every steps_per_execution steps and at each epoch's end.
  EXPECT_EQ(context->reads, 3 * ((steps_per_epoch + steps_per_execution - 1) / steps_per_execution));
  const auto want = flat(single.module()), got = flat(parallel.module());
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << "parameter element " << i << ": a step with inf gradients was taken";
    EXPECT_NEAR(got[i], want[i], tolerance * (1 + std::abs(want[i]))) << i;
  }
  if (f16) {  // the inf step (once an epoch) skipped everywhere: the scale halved 3 times, on every rank
    EXPECT_EQ(parallel.grad_scaler()->get_scale(), 8192.0);
    EXPECT_EQ(single.grad_scaler()->get_scale(), 8192.0);
  }
  for (int e = 0; e < 3; ++e) {
    const double got_loss = history.epochs[e].at("loss"), want_loss = expected.epochs[e].at("loss");
    if (f16) {  // the poisoned batch's loss is NaN in every epoch's mean, on both sides
      EXPECT_TRUE(std::isnan(got_loss) && std::isnan(want_loss)) << got_loss << " " << want_loss;
      continue;
    }
    EXPECT_NEAR(got_loss, want_loss, tolerance);
    EXPECT_DOUBLE_EQ(history.epochs[e].at("accuracy"), expected.epochs[e].at("accuracy"));
  }
  // The rate counts every rank's rows: the global batches' (the one process's), not this rank's share.
  for (const auto* epochs : {&history.epochs, &expected.epochs}) {
    const model::Logs& logs = epochs->at(0);
    EXPECT_NEAR(logs.at("samples_per_sec") * logs.at("epoch_seconds"), static_cast<double>(x.shape()[0]), 1e-6);
  }
  // Every rank holds the same parameters, bit for bit, and saw the same logs.
  std::vector<double> mine = got;
  if (!f16) mine.push_back(history.epochs[2].at("loss"));  // under f16 a NaN, unequal to itself
  Tensor low = tensor(mine), high = tensor(mine);
  context->communicator().allreduce(low, dist::ReduceOp::min)->wait();
  context->communicator().allreduce(high, dist::ReduceOp::max)->wait();
  EXPECT_EQ(low.to_vector<double>(), mine);
  EXPECT_EQ(high.to_vector<double>(), mine);
}

TEST(DataParallelModelFit, MatchesOneProcessOnTheGlobalBatch) { expect_matches_one_process(1); }

// TensorBatchSource split by world_size and rank (PyTorch's DistributedSampler split), shuffled with one seed: rank r
// reads every world-th sample of the epoch's order, so N ranks at batch 8 train as one process at batch 8N. Without
// the split every rank trained on every batch (the README's recipe did), as one process at batch 8.
TEST(DataParallelModelFit, ASplitTensorBatchSourceTrainsAsOneProcessOnTheGlobalBatch) {
  auto context = std::make_shared<CountingContext>();
  const int world = context->size(), rank = context->rank();
  Generator gen(12);
  Tensor x = randn({8 * world * 4, 1, 3, 3}, gen);
  Tensor y = randint(0, 4, {8 * world * 4}, gen);
  const model::CompileOptions compile{.optimizer = model::sgd({.lr = 0.2, .momentum = 0.9}), .loss = "cross_entropy",
                                      .metrics = {"accuracy"}};
  manual_seed(5);
  model::Model single(kMlp);
  single.build({1, 3, 3});
  single.compile(compile);
  model::TensorBatchSource all(x, y, {.batch_size = 8 * world, .seed = 3});
  const auto expected = single.fit(all, {.epochs = 2});

  manual_seed(5);
  model::Model parallel(kMlp, context);
  parallel.build({1, 3, 3});
  parallel.compile(compile);
  model::TensorBatchSource mine(x, y, {.batch_size = 8, .seed = 3, .world_size = world, .rank = rank});
  EXPECT_EQ(mine.batches_per_epoch(), 4);
  const auto history = parallel.fit(mine, {.epochs = 2});
  const auto want = flat(single.module()), got = flat(parallel.module());
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i]))) << i;
  for (int e = 0; e < 2; ++e) {
    EXPECT_NEAR(history.epochs[e].at("loss"), expected.epochs[e].at("loss"), 1e-5);
    EXPECT_DOUBLE_EQ(history.epochs[e].at("accuracy"), expected.epochs[e].at("accuracy"));
  }
  // Evaluated split, the padding of an uneven share (rows not a multiple of the world) counts nowhere: the logs of
  // the whole data in one process.
  const int64_t rows = 8 * world * 4 - (world > 1 ? 1 : 0);
  model::TensorBatchSource test_all(x.narrow(0, 0, rows), y.narrow(0, 0, rows), {.batch_size = 5, .shuffle = false});
  model::TensorBatchSource test_mine(x.narrow(0, 0, rows), y.narrow(0, 0, rows),
                                     {.batch_size = 5, .shuffle = false, .world_size = world, .rank = rank});
  const model::Logs want_logs = single.evaluate(test_all), got_logs = parallel.evaluate(test_mine);
  EXPECT_NEAR(got_logs.at("loss"), want_logs.at("loss"), 1e-5);
  EXPECT_DOUBLE_EQ(got_logs.at("accuracy"), want_logs.at("accuracy"));
}

// With gradient accumulation (no_sync on every micro-batch but a step's last) as well.
TEST(DataParallelModelFit, AccumulatesGradientsLikeOneProcess) { expect_matches_one_process(2); }

// Logs read (and summed over ranks) once every 2 steps: the same training and epoch logs.
TEST(DataParallelModelFit, ReadsTheLogsEveryTwoStepsLikeOneProcess) { expect_matches_one_process(1, 2); }

// f16 with loss scaling: an inf on one rank skips the step on every rank.
TEST(DataParallelModelFit, SkipsAnInfStepOnEveryRankUnderF16) { expect_matches_one_process(1, 1, "f16"); }

// Ranks whose sources hold different numbers of batches would make different collectives (one rank's gradient
// all-reduce summed with another's metrics all-reduce, then a wait for the watchdog): fit refuses before its first
// step, with the same error on every rank, naming each rank's count.
TEST(DataParallelModelFit, UnevenBatchCountsFailOnEveryRankBeforeTraining) {
  auto context =
      std::make_shared<dist::DataParallelContext>(tessera::testing::communicator_under_test(default_device()));
  if (context->size() == 1) GTEST_SKIP() << "needs 2 or more ranks";
  const int64_t rows = context->rank() == 0 ? 24 : 16;  // 3 batches of 8 on rank 0, 2 elsewhere
  Generator gen(3);
  const Tensor x = randn({rows, 1, 3, 3}, gen);
  const Tensor y = randint(0, 4, {rows}, gen);
  model::Model m(kMlp, context);
  m.build({1, 3, 3});
  m.compile({.optimizer = model::sgd({.lr = 0.1})});
  model::TensorBatchSource source(x, y, {.batch_size = 8, .shuffle = false, .world_size = 1});  // own rows
  expect_error([&] { m.fit(source, {.epochs = 1}); },
               {"Model::fit: where training starts differs across ranks", "rank 0 has the batches per epoch 3",
                "rank 1 has the batches per epoch 2", "same number of batches per epoch"});
  EXPECT_EQ(m.step(), 0);
  context->communicator().barrier()->wait();  // every rank threw at the same collective and is still in step
}

// BatchNorm under DDP: rank 0's buffers reach every rank before each training forward, and that forward then updates
// each rank's running statistics with its own batch, so after fit the replicas' statistics differ. evaluate uses
// rank 0's (those a checkpoint saves): its logs over every rank's rows equal one process evaluating rank 0's model on
// all rows, as `tessera evaluate` of the checkpoint reports. Before, each rank evaluated with its own statistics.
TEST(DataParallelModelFit, EvaluatesRankZerosBatchNormStatistics) {
  auto context =
      std::make_shared<dist::DataParallelContext>(tessera::testing::communicator_under_test(default_device()));
  const int world = context->size(), rank = context->rank();
  if (world == 1) GTEST_SKIP() << "needs 2 or more ranks";
  const json specs = json::parse(R"([{"type": "flatten"}, {"type": "linear", "out_features": 12},
                                     {"type": "batchnorm1d"}, {"type": "relu"}, {"type": "linear", "out_features": 4}])");
  const model::CompileOptions compile{.optimizer = model::sgd({.lr = 0.1}), .metrics = {"accuracy"}};
  Generator gen(21);  // the same data on every rank
  const int64_t global_batch = 8 * world;
  const Tensor x = randn({global_batch * 3, 1, 3, 3}, gen), y = randint(0, 4, {global_batch * 3}, gen);
  const Tensor test_x = randn({30, 1, 3, 3}, gen), test_y = randint(0, 4, {30}, gen);
  manual_seed(5);
  model::Model parallel(specs, context);
  parallel.build({1, 3, 3});
  parallel.compile(compile);
  RankShare share;
  share.x = x, share.y = y, share.global_batch = global_batch, share.rank = rank, share.world = world;
  parallel.fit(share, {.epochs = 1});

  // One process with rank 0's parameters and buffers, on every test row.
  model::Model single(specs);
  single.build({1, 3, 3});
  single.compile(compile);
  StateDict state;
  for (const auto& [name, tensor] : parallel.module().state_dict()) {
    Tensor copy = tensor.clone();
    context->communicator().broadcast(copy, 0)->wait();
    state.insert(name, copy);
  }
  single.module().load_state_dict(state);
  model::TensorBatchSource all(test_x, test_y, {.batch_size = 8, .shuffle = false});
  const model::Logs expected = single.evaluate(all);

  std::vector<int64_t> rows;  // the evaluation sampler's share: rows rank, rank + world, ...
  for (int64_t i = rank; i < 30; i += world) rows.push_back(i);
  const Tensor index = tensor(rows).to(test_x.device());
  model::TensorBatchSource mine(index_select(test_x, 0, index), index_select(test_y, 0, index),
                                {.batch_size = 4, .shuffle = false, .world_size = 1});
  const model::Logs got = parallel.evaluate(mine);
  EXPECT_NEAR(got.at("loss"), expected.at("loss"), 1e-6);
  EXPECT_DOUBLE_EQ(got.at("accuracy"), expected.at("accuracy"));
}

// 8 samples of (1, 3, 3) with 4 classes, evaluated by one process (all rows) and under data parallelism where
// rank 0 holds every row and the other ranks none.
struct RankZeroHoldsAllRows {
  std::shared_ptr<dist::DataParallelContext> context =
      std::make_shared<dist::DataParallelContext>(tessera::testing::communicator_under_test(default_device()));
  const int rank = context->rank();
  Tensor x, y;
  RankZeroHoldsAllRows() {
    Generator gen(4);
    x = randn({8, 1, 3, 3}, gen);
    y = randint(0, 4, {8}, gen);
  }
  model::Logs evaluate(model::Model& m, bool share) const {
    const int64_t rows = !share || rank == 0 ? 8 : 0;
    model::TensorBatchSource source(x.narrow(0, 0, rows), y.narrow(0, 0, rows),
                                    {.batch_size = 4, .shuffle = false, .world_size = 1});
    return m.evaluate(source);
  }
};

// evaluate before any fit, with a share of no rows on every rank but rank 0: wrapping the model is collective
// (DistributedDataParallel compares the models and broadcasts rank 0's weights), so every rank wraps before its first
// batch, not at it; the ranks without batches add zeros. Every rank then has one process's logs over rank 0's rows.
TEST(DataParallelModelFit, EvaluatesWhenOnlyOneRankHasBatches) {
  const RankZeroHoldsAllRows data;
  const model::CompileOptions compile{.optimizer = model::sgd({.lr = 0.1}), .metrics = {"accuracy"}};
  manual_seed(5);
  model::Model single(kMlp);
  single.build({1, 3, 3});
  single.compile(compile);
  const model::Logs expected = data.evaluate(single, /*share=*/false);

  manual_seed(data.rank == 0 ? 5 : 100 + data.rank);  // rank 0's weights must reach every rank
  model::Model parallel(kMlp, data.context);
  parallel.compile(compile);  // not built: evaluate builds it from the source's sample shape
  const model::Logs got = data.evaluate(parallel, /*share=*/true);
  EXPECT_NEAR(got.at("loss"), expected.at("loss"), 1e-6);
  EXPECT_DOUBLE_EQ(got.at("accuracy"), expected.at("accuracy"));
}

// The same with a Model made from a module (no layer specs, so no recorded output shape) and a confusion matrix: the
// rank without batches must add zeros of the others' layout, confusion cells included. Before, it added 3 numbers
// against rank 0's 19: MPI_ERR_TRUNCATE on one rank while the other went on.
TEST(DataParallelModelFit, EvaluatesAModulesConfusionMatrixWhenOnlyOneRankHasBatches) {
  const RankZeroHoldsAllRows data;
  const model::CompileOptions compile{.optimizer = model::sgd({.lr = 0.1}),
                                      .metrics = {"accuracy", "confusion_matrix"}};
  const auto make = [] {
    Generator weights(5);
    return std::make_shared<nn::Sequential>(nn::Flatten(), nn::Linear(9, 4, true, weights));
  };
  model::Model single(make());
  single.compile(compile);
  const model::Logs expected = data.evaluate(single, /*share=*/false);
  model::Model parallel(make(), data.context);
  parallel.compile(compile);
  EXPECT_EQ(data.evaluate(parallel, /*share=*/true), expected);
}

// ... and with a module that takes integer indices (an Embedding first): the rank without batches learns the layout
// from the others, with no forward of its own (a probe on f32 zeros failed there: "indices must be an integer
// tensor", ending the job).
TEST(DataParallelModelFit, EvaluatesAnEmbeddingModuleWhenOnlyOneRankHasBatches) {
  auto context =
      std::make_shared<dist::DataParallelContext>(tessera::testing::communicator_under_test(default_device()));
  const int rank = context->rank();
  Generator gen(4);
  const Tensor x = randint(0, 10, {8, 3}, gen);
  const Tensor y = randint(0, 4, {8}, gen);
  const model::CompileOptions compile{.optimizer = model::sgd({.lr = 0.1}),
                                      .metrics = {"accuracy", "confusion_matrix"}};
  const auto make = [] {
    Generator weights(5);
    return std::make_shared<nn::Sequential>(nn::Embedding(10, 2, weights), nn::Flatten(),
                                            nn::Linear(6, 4, true, weights));
  };
  model::Model single(make());
  single.compile(compile);
  model::TensorBatchSource all(x, y, {.batch_size = 4, .shuffle = false});
  const model::Logs expected = single.evaluate(all);
  model::Model parallel(make(), context);
  parallel.compile(compile);
  const int64_t rows = rank == 0 ? 8 : 0;
  model::TensorBatchSource share(x.narrow(0, 0, rows), y.narrow(0, 0, rows),
                                 {.batch_size = 4, .shuffle = false, .world_size = 1});
  EXPECT_EQ(parallel.evaluate(share), expected);
}
