// What the nccl backend promises beyond equal results (which the collective and DDP suites check in their
// *.np2.nccl_on_cpu entries), checked with distributed/nccl's own code built over the CPU build of the CUDA backend
// (tests/support/nccl_on_cpu/README.md). Runs only there: TESSERA_TEST_COMMUNICATOR=nccl_on_cpu.
#include <gtest/gtest.h>

#include "distributed/communicator.h"
#include "distributed/ddp.h"
#include "tests/distributed/ddp_test_models.h"
#include "tests/support/cuda_on_cpu/cuda_on_cpu.h"
#include "tests/support/nccl_on_cpu/nccl_on_cpu.h"

namespace tessera::dist {
namespace {

using testing::world_comm;

// A macro: GTEST_SKIP returns from the function it is in, which must be the test.
#define SKIP_UNLESS_NCCL_ON_CPU()                                                                         \
  if (!tessera::testing::testing_nccl_on_cpu()) GTEST_SKIP() << "runs in the *.nccl_on_cpu entries only"

TEST(NcclOnCpu, DeviceTensorsGoOverNccl) {
  SKIP_UNLESS_NCCL_ON_CPU();
  EXPECT_EQ(world_comm()->backend(), "nccl");
}

// DESIGN.md: "the training step never synchronises the host except for a value the loop asks for". Over NCCL the
// reducer orders each bucket's all-reduce after the compute stream by an event and the optimizer after the NCCL
// stream by another, so steps of DDP with several buckets make no host wait that finds work queued; reading the
// loss does, and the replicas then agree.
TEST(NcclOnCpu, ADdpStepMakesTheHostWaitForNothing) {
  SKIP_UNLESS_NCCL_ON_CPU();
  const int rank = world_comm()->rank();
  DistributedDataParallel ddp(testing::make_model("cnn", 7 + 100 * rank), world_comm(),
                              {.bucket_cap_mb = 1.0 / 1024, .first_bucket_cap_mb = 1.0 / 1024});
  ASSERT_GT(ddp.reducer().buckets().size(), 1u);
  auto optimizer = testing::make_optimizer(testing::OptimizerKind::adamw, ddp.parameters());
  auto step = [&](int k) {
    const testing::Batch batch = testing::make_batch("cnn", 4, 10 * k + rank);
    optimizer->zero_grad();
    Tensor loss = cross_entropy(ddp(batch.x), batch.y);
    loss.backward();
    optimizer->step();
    return loss;
  };
  const float first = step(0).item<float>();  // the eager step that makes optimizer state and plans
  const uint64_t before = tessera::testing::cuda_on_cpu_host_waits();
  Tensor loss;
  for (int k = 1; k <= 5; ++k) loss = step(k);
  EXPECT_EQ(tessera::testing::cuda_on_cpu_host_waits(), before) << "a DDP step over nccl made the host wait";
  EXPECT_NE(loss.item<float>(), first);
  EXPECT_GT(tessera::testing::cuda_on_cpu_host_waits(), before) << "reading the loss waits, and is counted";
  EXPECT_TRUE(testing::same_bytes_on_all_ranks(testing::parameter_bytes(ddp)));
}

}  // namespace
}  // namespace tessera::dist
