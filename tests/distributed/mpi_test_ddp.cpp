// DistributedDataParallel under mpirun (-n 2 and -n 4): N ranks with per-rank batch B must train exactly like one
// process with batch N*B. Every rank computes that single-process reference itself, on the full batch, from the
// same initial weights; the data-parallel replicas start from different weights on every rank, so construction's
// broadcast of rank 0's parameters is part of what is checked. After every step the replicas must be bit-identical
// (compared with MPI_Allgather, independently of the Communicator); after the last one they must match the
// reference within 1e-5 (max abs difference over max abs value, per parameter, f32).
#include <gtest/gtest.h>

#include "distributed/communicator.h"
#include "distributed/ddp.h"
#include "tests/distributed/ddp_test_models.h"

namespace tessera::dist {
namespace {

using testing::Batch;
using testing::world_comm;
using testing::OptimizerKind;

constexpr double kTolerance = 1e-5;
constexpr int kSteps = 4;
constexpr int64_t kPerRank = 4;

struct Run {
  std::string model = "mlp";
  OptimizerKind optimizer = OptimizerKind::sgd_momentum;
  DdpOptions ddp;
  bool accumulate_two_micro_batches = false;  // no_sync on the first half of each rank's batch
  bool zero_grad_to_none = true;
};

// Trains the replicas and the reference side by side and checks both properties above.
void expect_matches_single_process(const Run& run) {
  const int rank = world_comm()->rank(), size = world_comm()->size();
  auto reference = testing::make_model(run.model, 7);
  DistributedDataParallel ddp(testing::make_model(run.model, 7 + 100 * rank), world_comm(), run.ddp);
  auto reference_optimizer = testing::make_optimizer(run.optimizer, reference->parameters());
  auto ddp_optimizer = testing::make_optimizer(run.optimizer, ddp.parameters());
  const int64_t per_rank = run.accumulate_two_micro_batches ? 2 * kPerRank : kPerRank;

  for (int step = 0; step < kSteps; ++step) {
    const Batch full = testing::make_batch(run.model, per_rank * size, step);
    reference_optimizer->zero_grad(run.zero_grad_to_none);
    cross_entropy((*reference)(full.x), full.y).backward();
    reference_optimizer->step();

    const Batch mine = full.rows(rank * per_rank, per_rank);
    ddp_optimizer->zero_grad(run.zero_grad_to_none);
    if (run.accumulate_two_micro_batches) {
      // Two half batches, each loss halved: the accumulated gradient is that of the mean over the whole batch.
      const Batch first = mine.rows(0, kPerRank), second = mine.rows(kPerRank, kPerRank);
      const int64_t synced_steps = ddp.step();
      {
        auto no_sync = ddp.no_sync();
        (cross_entropy(ddp(first.x), first.y) * 0.5).backward();
      }
      EXPECT_EQ(ddp.step(), synced_steps) << "a backward inside no_sync() must not synchronise";
      (cross_entropy(ddp(second.x), second.y) * 0.5).backward();
    } else {
      cross_entropy(ddp(mine.x), mine.y).backward();
    }
    ddp_optimizer->step();
    ASSERT_TRUE(testing::same_bytes_on_all_ranks(testing::parameter_bytes(ddp)))
        << "replicas differ after step " << step;
  }
  const auto expected = reference->named_parameters();
  const auto actual = ddp.module().named_parameters();
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_LE(testing::relative_difference(actual[i].second, expected[i].second), kTolerance)
        << "parameter " << actual[i].first << " after " << kSteps << " steps";
  }
}

// Bucket caps of 1 KiB, 1 MiB and 25 MiB: many small buckets, one, one.
const std::vector<double> kCapsMb = {1.0 / 1024, 1.0, 25.0};

void expect_matches_for_every_cap(const std::string& model, OptimizerKind optimizer) {
  for (double cap : kCapsMb) {
    SCOPED_TRACE("bucket cap " + std::to_string(cap) + " MiB");
    expect_matches_single_process(
        {.model = model, .optimizer = optimizer, .ddp = {.bucket_cap_mb = cap, .first_bucket_cap_mb = cap}});
  }
}

TEST(DdpEquivalence, MlpSgdMomentum) { expect_matches_for_every_cap("mlp", OptimizerKind::sgd_momentum); }
TEST(DdpEquivalence, MlpAdamW) { expect_matches_for_every_cap("mlp", OptimizerKind::adamw); }
TEST(DdpEquivalence, CnnSgdMomentum) { expect_matches_for_every_cap("cnn", OptimizerKind::sgd_momentum); }
TEST(DdpEquivalence, CnnAdamW) { expect_matches_for_every_cap("cnn", OptimizerKind::adamw); }

TEST(DdpEquivalence, DefaultCapsWithSmallFirstBucket) {
  expect_matches_single_process(
      {.model = "cnn", .ddp = {.bucket_cap_mb = 4.0 / 1024, .first_bucket_cap_mb = 1.0 / 1024}});
}

TEST(DdpEquivalence, NoSyncOverTwoMicroBatchesEqualsDoubleBatch) {
  for (double cap : {1.0 / 1024, 25.0}) {
    SCOPED_TRACE("bucket cap " + std::to_string(cap) + " MiB");
    expect_matches_single_process({.model = "mlp",
                                   .optimizer = OptimizerKind::adamw,
                                   .ddp = {.bucket_cap_mb = cap, .first_bucket_cap_mb = cap},
                                   .accumulate_two_micro_batches = true});
  }
}

TEST(DdpEquivalence, GradientsAsBucketViews) {
  for (bool to_none : {true, false}) {
    SCOPED_TRACE(to_none ? "zero_grad(set_to_none)" : "zero_grad(zeroing)");
    const DdpOptions views{.bucket_cap_mb = 1.0 / 1024, .first_bucket_cap_mb = 1.0 / 1024,
                           .gradient_as_bucket_view = true};
    expect_matches_single_process({.model = "cnn", .ddp = views, .zero_grad_to_none = to_none});
    expect_matches_single_process(
        {.model = "mlp", .ddp = views, .accumulate_two_micro_batches = true, .zero_grad_to_none = to_none});
  }
}

TEST(DdpEquivalence, GradientsAreViewsOfOneFlatBucket) {
  DistributedDataParallel ddp(testing::make_model("mlp", 7), world_comm(), {.gradient_as_bucket_view = true});
  const Batch batch = testing::make_batch("mlp", kPerRank, world_comm()->rank());
  cross_entropy(ddp(batch.x), batch.y).backward();
  ASSERT_EQ(ddp.reducer().buckets().size(), 1u);
  const auto params = ddp.parameters();
  for (const Tensor& p : params)
    EXPECT_EQ(p.grad().impl()->storage, params[0].grad().impl()->storage) << "every gradient lives in the bucket";
}

}  // namespace
}  // namespace tessera::dist
