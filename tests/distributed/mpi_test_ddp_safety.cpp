// DistributedDataParallel under mpirun: construction copies rank 0's state, the fingerprint names the first
// difference between ranks' models, unused parameters are an error naming them (or reduced as zeros), and the
// all-reduces start during backward (counted by the reducer when a parameter's hook fires, not timed).
#include <gtest/gtest.h>

#include "distributed/communicator.h"
#include "distributed/ddp.h"
#include "tests/distributed/ddp_test_models.h"
#include "tests/support/expect_error.h"

namespace tessera::dist {
namespace {

using testing::Batch;
using testing::world_comm;
using testing::WithOptionalLayer;

TEST(DdpSafety, ConstructionCopiesRank0ParametersAndBuffers) {
  const int rank = world_comm()->rank();
  auto make = [](uint64_t seed) {
    Generator gen(seed);
    return std::make_shared<nn::Sequential>(nn::Linear(12, 8, true, gen), nn::BatchNorm1d(8));
  };
  auto model = make(7 + rank);
  for (Tensor buffer : model->buffers()) buffer.fill_(rank);
  DistributedDataParallel ddp(model, world_comm());
  EXPECT_EQ(testing::parameter_bytes(*model), testing::parameter_bytes(*make(7)));
  for (const auto& [name, buffer] : model->named_buffers())
    EXPECT_EQ(buffer.to_vector<double>(), std::vector<double>(buffer.numel(), 0.0)) << name << " is rank 0's";
}

TEST(DdpSafety, TrainingForwardsStartFromRank0Buffers) {
  const int rank = world_comm()->rank();
  for (bool broadcast : {true, false}) {
    auto model = testing::make_model("mlp", 7);
    Tensor buffer = model->register_buffer("marker", zeros({3}));
    // Buffers travel packed per dtype: a second of each kind, of other shapes.
    Tensor other = model->register_buffer("other", zeros({2, 2}));
    Tensor count = model->register_buffer("count", zeros({2}, {.dtype = DType::i64}));
    DistributedDataParallel ddp(model, world_comm(), {.broadcast_buffers = broadcast});
    const Batch batch = testing::make_batch("mlp", 4, 0);
    for (int step = 0; step < 2; ++step) {
      buffer.fill_(rank == 0 ? step + 1 : -1);
      other.fill_(rank == 0 ? step + 10 : -1);
      count.fill_(rank == 0 ? step + 100 : -1);
      cross_entropy(ddp(batch.x), batch.y).backward();
      const auto from_rank0 = [&](double value) { return broadcast || rank == 0 ? value : -1.0; };
      EXPECT_EQ(buffer.to_vector<double>(), std::vector<double>(3, from_rank0(step + 1))) << "broadcast " << broadcast;
      EXPECT_EQ(other.to_vector<double>(), std::vector<double>(4, from_rank0(step + 10))) << "broadcast " << broadcast;
      EXPECT_EQ(count.to_vector<double>(), std::vector<double>(2, from_rank0(step + 100))) << "broadcast " << broadcast;
    }
    ddp.eval();
    buffer.fill_(rank == 0 ? 9 : -1);
    ddp(batch.x);
    EXPECT_EQ(buffer.to_vector<double>()[0], rank == 0 ? 9 : -1) << "evaluation forwards leave buffers alone";
  }
}

// Buffers of any dtype, as PyTorch's DDP broadcasts them: bool and u8 masks travel as i32. Before, construction
// threw "the mpi backend does not support tensor's dtype bool".
TEST(DdpSafety, BoolAndU8BuffersAreBroadcast) {
  const int rank = world_comm()->rank();
  auto model = testing::make_model("mlp", 7);
  Tensor mask = model->register_buffer("mask", full({3}, rank == 0 ? 1.0 : 0.0, {.dtype = DType::boolean}));
  Tensor bytes = model->register_buffer("bytes", full({2}, rank == 0 ? 200.0 : 7.0, {.dtype = DType::u8}));
  DistributedDataParallel ddp(model, world_comm());
  EXPECT_EQ(mask.to_vector<double>(), std::vector<double>(3, 1.0));
  EXPECT_EQ(bytes.to_vector<double>(), std::vector<double>(2, 200.0));
  mask.fill_(rank == 0 ? 0.0 : 1.0);
  bytes.fill_(rank == 0 ? 3.0 : 9.0);
  const Batch batch = testing::make_batch("mlp", 4, 0);
  cross_entropy(ddp(batch.x), batch.y).backward();
  EXPECT_EQ(mask.dtype(), DType::boolean);
  EXPECT_EQ(mask.to_vector<double>(), std::vector<double>(3, 0.0));
  EXPECT_EQ(bytes.to_vector<double>(), std::vector<double>(2, 3.0));
}

TEST(DdpSafety, ModelsThatDifferAcrossRanksAreAnErrorNamingTheParameter) {
  if (world_comm()->size() == 1) GTEST_SKIP() << "one rank (the .np1.cuda entry): nothing can differ across ranks";
  const int rank = world_comm()->rank(), last = world_comm()->size() - 1;
  auto model = testing::make_model("mlp", 7, rank == last ? 20 : 24);
  tessera::testing::expect_error([&] { DistributedDataParallel ddp(model, world_comm()); },
                                 {"differs across ranks", "rank 0 has parameter '0.weight' [24, 12] f32",
                                  "rank " + std::to_string(last) + " has parameter '0.weight' [20, 12] f32"});
}

TEST(DdpSafety, DifferentOptionsAcrossRanksAreAnError) {
  if (world_comm()->size() == 1) GTEST_SKIP() << "one rank (the .np1.cuda entry): nothing can differ across ranks";
  const int rank = world_comm()->rank();
  tessera::testing::expect_error(
      [&] {
        DistributedDataParallel ddp(testing::make_model("mlp", 7), world_comm(),
                                    {.bucket_cap_mb = rank == 0 ? 25.0 : 5.0});
      },
      {"differs across ranks", "DdpOptions{bucket_cap_mb=25", "DdpOptions{bucket_cap_mb=5"});
}

TEST(DdpSafety, UnusedParameterIsAnErrorNamingIt) {
  DistributedDataParallel ddp(std::make_shared<WithOptionalLayer>(false, 7), world_comm());
  const Batch batch = testing::make_batch("mlp", 4, 0);
  Tensor output = ddp(batch.x);  // a forward alone is no error (PyTorch's either): backward's first hook says it
  tessera::testing::expect_error([&] { cross_entropy(output, batch.y).backward(); },
                                 {"parameter 'extra.weight'", "find_unused_parameters"});
}

// PyTorch's DDP averages gradients whatever the module's mode (eval() freezes BatchNorm and dropout, not data
// parallelism); a forward whose output never reaches backward leaves the reducer as it was, also with
// find_unused_parameters. Before, an eval-mode backward kept each rank's own gradient (the replicas diverged), and a
// forward without backward under find_unused_parameters made the next forward throw.
TEST(DdpSafety, EvalModeBackwardAveragesAndForwardsWithoutBackwardLeaveNothing) {
  const int rank = world_comm()->rank(), size = world_comm()->size();
  for (bool find_unused : {false, true}) {
    SCOPED_TRACE(find_unused ? "find_unused_parameters" : "all used");
    auto model = std::make_shared<WithOptionalLayer>(!find_unused, 7);
    DistributedDataParallel ddp(model, world_comm(), {.find_unused_parameters = find_unused});
    WithOptionalLayer reference(!find_unused, 7);
    const Batch full = testing::make_batch("mlp", 4 * size, 3), mine = full.rows(4 * rank, 4);
    cross_entropy(reference(full.x), full.y).backward();
    ddp.eval();
    Tensor unused_output = ddp(mine.x);  // no backward
    cross_entropy(ddp(mine.x), mine.y).backward();
    EXPECT_TRUE(ddp.reducer().stats().finalized);
    const auto actual = ddp.module().named_parameters(), expected = reference.named_parameters();
    for (size_t i = 0; i < actual.size(); ++i) {
      if (!expected[i].second.grad().defined()) continue;
      EXPECT_LE(testing::relative_difference(actual[i].second.grad(), expected[i].second.grad()), 1e-5)
          << actual[i].first;
    }
  }
}

TEST(DdpSafety, FindUnusedParametersReducesThemAsZero) {
  // Unused everywhere: trains like one process, and the unused layer keeps no gradient.
  const int rank = world_comm()->rank(), size = world_comm()->size();
  WithOptionalLayer reference(false, 7);
  DistributedDataParallel ddp(std::make_shared<WithOptionalLayer>(false, 7), world_comm(),
                              {.bucket_cap_mb = 1.0 / 1024, .first_bucket_cap_mb = 1.0 / 1024,
                               .find_unused_parameters = true});
  auto reference_optimizer = testing::make_optimizer(testing::OptimizerKind::adamw, reference.parameters());
  auto ddp_optimizer = testing::make_optimizer(testing::OptimizerKind::adamw, ddp.parameters());
  for (int step = 0; step < 3; ++step) {
    const Batch full = testing::make_batch("mlp", 4 * size, step), mine = full.rows(4 * rank, 4);
    reference_optimizer->zero_grad();
    cross_entropy(reference(full.x), full.y).backward();
    reference_optimizer->step();
    ddp_optimizer->zero_grad();
    cross_entropy(ddp(mine.x), mine.y).backward();
    EXPECT_FALSE(ddp.module().named_parameters().back().second.grad().defined()) << "extra.bias got a gradient";
    ddp_optimizer->step();
  }
  const auto expected = reference.named_parameters(), actual = ddp.module().named_parameters();
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_LE(testing::relative_difference(actual[i].second, expected[i].second), 1e-5) << actual[i].first;

  // Used on rank 0 only: every rank ends up with rank 0's gradient divided by the world size.
  DistributedDataParallel mixed(std::make_shared<WithOptionalLayer>(rank == 0, 7), world_comm(),
                                {.find_unused_parameters = true});
  const Batch batch = testing::make_batch("mlp", 4, 0);
  WithOptionalLayer rank0_model(true, 7);
  cross_entropy(rank0_model(batch.x), batch.y).backward();
  cross_entropy(mixed(batch.x), batch.y).backward();
  const Tensor extra_grad = mixed.module().named_parameters()[6].second.grad();
  ASSERT_TRUE(extra_grad.defined());
  const Tensor expected_grad = rank0_model.named_parameters()[6].second.grad() / static_cast<double>(size);
  EXPECT_LE(testing::relative_difference(extra_grad, expected_grad), 1e-6);
}

// A DDP with find_unused_parameters of the test MLP with its extra layer in use, and the same model for one process.
struct FindUnusedSetup {
  std::shared_ptr<WithOptionalLayer> model = std::make_shared<WithOptionalLayer>(true, 7);
  DistributedDataParallel ddp;
  WithOptionalLayer reference{true, 7};
  explicit FindUnusedSetup(bool gradient_as_bucket_view)
      : ddp(model, world_comm(),
            {.find_unused_parameters = true, .gradient_as_bucket_view = gradient_as_bucket_view}) {}
};

// Gradient accumulation with a parameter used only in a no_sync micro-batch: its .grad() holds this rank's share,
// which the synchronised backward must average like any other (here no rank uses it in that backward: before, each
// rank kept its own un-averaged gradient and the replicas diverged).
TEST(DdpSafety, FindUnusedParametersReducesGradientsAccumulatedUnderNoSync) {
  const int rank = world_comm()->rank(), size = world_comm()->size();
  for (bool views : {false, true}) {
    SCOPED_TRACE(views ? "gradient_as_bucket_view" : "copies");
    FindUnusedSetup setup(views);
    auto& [model, ddp, reference] = setup;
    // Every rank's first micro-batch (with the extra layer), each loss halved, in one process.
    for (int r = 0; r < size; ++r) {
      const Batch b = testing::make_batch("mlp", 4, 10 + r);
      (cross_entropy(reference(b.x), b.y) * 0.5).backward();
    }
    {
      auto no_sync = ddp.no_sync();
      const Batch first = testing::make_batch("mlp", 4, 10 + rank);
      (cross_entropy(ddp(first.x), first.y) * 0.5).backward();
    }
    model->set_use_extra(false);
    const Batch second = testing::make_batch("mlp", 4, 20 + rank);
    (cross_entropy(ddp(second.x), second.y) * 0.5).backward();
    EXPECT_TRUE(ddp.reducer().stats().finalized);
    const auto named = ddp.module().named_parameters();
    const auto expected = reference.named_parameters();
    for (size_t i = 0; i < named.size(); ++i) {
      if (named[i].first.rfind("extra.", 0) != 0) continue;
      const Tensor grad = named[i].second.grad();
      ASSERT_TRUE(grad.defined()) << named[i].first;
      EXPECT_LE(testing::relative_difference(grad, expected[i].second.grad() / static_cast<double>(size)), 1e-6)
          << named[i].first << ": the mean over ranks of the gradients accumulated under no_sync";
    }
  }
}

// Gradients kept across synchronised steps (no zero_grad between them), with a parameter used by rank 0 only in the
// second step: its .grad() must end as the kept gradient plus the mean over ranks of the new ones, as in one process
// and in PyTorch (whose reducer copies any defined .grad() into the bucket). Before, the other ranks put zeros in its
// slot, so the kept gradient was divided by the world size.
TEST(DdpSafety, FindUnusedParametersKeepsGradientsAccumulatedAcrossSynchronisedSteps) {
  const int rank = world_comm()->rank(), size = world_comm()->size();
  if (size == 1) GTEST_SKIP() << "needs 2 or more ranks";
  for (bool views : {false, true}) {
    SCOPED_TRACE(views ? "gradient_as_bucket_view" : "copies");
    FindUnusedSetup setup(views);
    auto& [model, ddp, reference] = setup;
    for (int r = 0; r < size; ++r) {  // step 1: every rank's batch, each loss divided by the world size
      const Batch b = testing::make_batch("mlp", 4, 10 + r);
      (cross_entropy(reference(b.x), b.y) / static_cast<double>(size)).backward();
    }
    const Batch b0 = testing::make_batch("mlp", 4, 20);  // step 2: rank 0's batch only reaches "extra"
    (cross_entropy(reference(b0.x), b0.y) / static_cast<double>(size)).backward();

    const Batch first = testing::make_batch("mlp", 4, 10 + rank);
    cross_entropy(ddp(first.x), first.y).backward();
    model->set_use_extra(rank == 0);
    const Batch second = testing::make_batch("mlp", 4, 20 + rank);
    Tensor loss = cross_entropy(ddp(second.x), second.y);
    if (rank != 0) loss = loss * 0.0;  // the other ranks' batches add nothing here, to compare with `reference`
    loss.backward();
    const auto actual = ddp.module().named_parameters(), expected = reference.named_parameters();
    for (size_t i = 0; i < actual.size(); ++i) {
      if (actual[i].first.rfind("extra.", 0) != 0) continue;
      EXPECT_LE(testing::relative_difference(actual[i].second.grad(), expected[i].second.grad()), 1e-5)
          << actual[i].first;
    }
  }
}

// The test MLP, then an op that takes the parameter "gate" as an input but gives it no gradient (its backward
// returns an undefined tensor for it): gate is in the graph, so forward cannot tell, yet its hook never fires.
class GradientlessParameter : public nn::Module {
 public:
  GradientlessParameter() {
    body_ = register_module("body", testing::make_model("mlp", 7));
    gate_ = register_parameter("gate", ones({5}));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*body_)(x);
    Tensor out = y.detach().clone();
    autograd::record("PassThroughBackward", {y, gate_}, {out}, {},
                     [](const std::vector<Tensor>& grads, const std::vector<Tensor>&, const autograd::Node&) {
                       return std::vector<Tensor>{grads[0], Tensor()};
                     });
    return out;
  }

 private:
  std::shared_ptr<nn::Module> body_;
  Tensor gate_;
};

TEST(DdpSafety, StepThatNeverFinishedIsAnErrorNamingTheParameterAtTheNextForward) {
  DistributedDataParallel ddp(std::make_shared<GradientlessParameter>(), world_comm(),
                              {.bucket_cap_mb = 1.0 / 1024, .first_bucket_cap_mb = 1.0 / 1024});
  const Batch batch = testing::make_batch("mlp", 4, 0);
  cross_entropy(ddp(batch.x), batch.y).backward();
  EXPECT_FALSE(ddp.reducer().stats().finalized);
  tessera::testing::expect_error([&] { ddp(batch.x); },
                                 {"step 0 started reducing gradients but never finished", "'gate'"});
}

// With 256-byte buckets the MLP has three: [2.bias, 2.weight], [1.bias, 1.weight], [0.bias, 0.weight]. The first
// layer's weight gets its gradient last; a hook on it (registered before DDP's, so it runs first) sees how many
// all-reduces were already issued.
struct LaunchCount {
  size_t buckets = 0;
  size_t launched_before_first_layer = 0;
  bool finalized_before_first_layer = true;
  size_t launched_after_backward = 0;
};

LaunchCount count_launches(bool overlap) {
  auto model = testing::make_model("mlp", 7);
  const Reducer* reducer = nullptr;
  LaunchCount count;
  model->parameters()[0].register_post_accumulate_grad_hook([&](Tensor&) {
    count.launched_before_first_layer = reducer->stats().buckets_launched;
    count.finalized_before_first_layer = reducer->stats().finalized;
  });
  const double cap = 256.0 / (1 << 20);
  DistributedDataParallel ddp(model, world_comm(),
                              {.bucket_cap_mb = cap, .first_bucket_cap_mb = cap, .overlap_with_backward = overlap});
  reducer = &ddp.reducer();
  count.buckets = reducer->buckets().size();
  const Batch batch = testing::make_batch("mlp", 4, world_comm()->rank());
  cross_entropy(ddp(batch.x), batch.y).backward();
  EXPECT_TRUE(reducer->stats().finalized);
  count.launched_after_backward = reducer->stats().buckets_launched;
  return count;
}

TEST(DdpSafety, HooksLaunchAllReducesDuringBackward) {
  const LaunchCount count = count_launches(true);
  ASSERT_EQ(count.buckets, 3u);
  EXPECT_EQ(count.launched_before_first_layer, 2u) << "the later layers' buckets start while backward goes on";
  EXPECT_FALSE(count.finalized_before_first_layer);
  EXPECT_EQ(count.launched_after_backward, 3u);
}

TEST(DdpSafety, WithoutOverlapNothingStartsBeforeTheLastGradient) {
  const LaunchCount count = count_launches(false);
  ASSERT_EQ(count.buckets, 3u);
  EXPECT_EQ(count.launched_before_first_layer, 0u);
  EXPECT_EQ(count.launched_after_backward, 3u);
}

}  // namespace
}  // namespace tessera::dist
