// What the nccl backend promises beyond equal results (which the collective and DDP suites check in their
// *.np2.nccl_on_cpu entries), checked with distributed/nccl's own code built over the CPU build of the CUDA backend
// (tests/support/nccl_on_cpu/README.md). Runs only there: TESSERA_TEST_COMMUNICATOR=nccl_on_cpu.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

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

// Forwards to `inner`, counting the host waits on its Works (Work::wait) and on its Works' fallbacks: the runtime's
// counter does not see a Work's wait, which polls its event.
class WaitCounting final : public Communicator {
 public:
  explicit WaitCounting(std::shared_ptr<Communicator> inner) : inner_(std::move(inner)) {}
  int64_t waits() const { return *waits_; }

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  std::string backend() const override { return inner_->backend(); }
  WorkPtr allreduce(const Tensor& t, ReduceOp op, const CollectiveTag& tag) override {
    return counted(inner_->allreduce(t, op, tag));
  }
  WorkPtr broadcast(const Tensor& t, int root, const CollectiveTag& tag) override {
    return counted(inner_->broadcast(t, root, tag));
  }
  WorkPtr allgather(const Tensor& in, const Tensor& out, const CollectiveTag& tag) override {
    return counted(inner_->allgather(in, out, tag));
  }
  WorkPtr reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op, const CollectiveTag& tag) override {
    return counted(inner_->reduce_scatter(in, out, op, tag));
  }
  WorkPtr barrier(const CollectiveTag& tag) override { return counted(inner_->barrier(tag)); }

 private:
  struct CountedWork final : Work {
    WorkPtr inner;
    std::shared_ptr<int64_t> waits;
    void wait() override { ++*waits, inner->wait(); }
    bool is_completed() override { return inner->is_completed(); }
    void wait_on_stream() override { inner->wait_on_stream(); }
    std::optional<WorkTiming> timing() override { return inner->timing(); }
  };
  WorkPtr counted(WorkPtr work) {
    auto wrapped = std::make_shared<CountedWork>();
    wrapped->inner = std::move(work), wrapped->waits = waits_;
    return wrapped;
  }
  std::shared_ptr<Communicator> inner_;
  std::shared_ptr<int64_t> waits_ = std::make_shared<int64_t>(0);
};

// A training step of the CNN under `ddp` on this rank's k-th batch; the loss is returned unread.
Tensor cnn_step(DistributedDataParallel& ddp, optim::Optimizer& optimizer, int k) {
  const testing::Batch batch = testing::make_batch("cnn", 4, 10 * k + world_comm()->rank());
  optimizer.zero_grad();
  Tensor loss = cross_entropy(ddp(batch.x), batch.y);
  loss.backward();
  optimizer.step();
  return loss;
}

TEST(NcclOnCpu, DeviceTensorsGoOverNccl) {
  SKIP_UNLESS_NCCL_ON_CPU();
  EXPECT_EQ(world_comm()->backend(), "nccl");
}

// The design: "the training step never synchronises the host except for a value the loop asks for". Over NCCL the
// reducer orders each bucket's all-reduce after the compute stream by an event and the optimizer after the NCCL
// stream by another, so steps of DDP with several buckets make no host wait that finds work queued; reading the
// loss does, and the replicas then agree. Neither the runtime (host waits on streams, events, the device) nor the
// communicator (Work::wait, counted by WaitCounting) sees a wait.
TEST(NcclOnCpu, ADdpStepMakesTheHostWaitForNothing) {
  SKIP_UNLESS_NCCL_ON_CPU();
  const int rank = world_comm()->rank();
  auto comm = std::make_shared<WaitCounting>(world_comm());
  DistributedDataParallel ddp(testing::make_model("cnn", 7 + 100 * rank), comm,
                              {.bucket_cap_mb = 1.0 / 1024, .first_bucket_cap_mb = 1.0 / 1024});
  ASSERT_GT(ddp.reducer().buckets().size(), 1u);
  auto optimizer = testing::make_optimizer(testing::OptimizerKind::adamw, ddp.parameters());
  auto step = [&](int k) { return cnn_step(ddp, *optimizer, k); };
  const float first = step(0).item<float>();  // the eager step that makes optimizer state and plans
  const tessera::testing::DeviceWorkCounts start = tessera::testing::cuda_on_cpu_work_counts();
  const uint64_t before = start.host_waits;
  const int64_t work_waits_before = comm->waits();
  Tensor loss;
  for (int k = 1; k <= 5; ++k) loss = step(k);
  const tessera::testing::DeviceWorkCounts steps = tessera::testing::cuda_on_cpu_work_counts() - start;
  EXPECT_EQ(steps.host_waits, 0u) << "a DDP step over nccl made the host wait";
  EXPECT_EQ(steps.pageable_uploads, 0u) << "a DDP step's scalars went through pageable staging, which may wait";
  EXPECT_EQ(comm->waits(), work_waits_before) << "a DDP step over nccl waited for a collective on the host";
  EXPECT_NE(loss.item<float>(), first);
  EXPECT_GT(tessera::testing::cuda_on_cpu_host_waits(), before) << "reading the loss waits, and is counted";
  EXPECT_TRUE(testing::same_bytes_on_all_ranks(testing::parameter_bytes(ddp)));
}

// A collective's end event goes back to the backend's pool once the collective is seen to pass (at the next
// enqueue) and no Work holds it, so warm steps create no events: the pool already holds what the start (the
// parameters' broadcast) and the first step needed.
// Were they held until the watchdog's next poll (once a second), every collective of these steps would need a new
// one. Each step reads its loss, so each rank's collectives of a step have passed before the next (without that,
// this emulator's MPI progresses only when polled, and passing is seen steps late; a GPU's NCCL runs by itself).
TEST(NcclOnCpu, WarmDdpStepsCreateNoCudaEvents) {
  SKIP_UNLESS_NCCL_ON_CPU();
  const int rank = world_comm()->rank();
  DistributedDataParallel ddp(testing::make_model("cnn", 7 + 100 * rank), world_comm(),
                              {.bucket_cap_mb = 1.0 / 1024, .first_bucket_cap_mb = 1.0 / 1024});
  auto optimizer = testing::make_optimizer(testing::OptimizerKind::sgd_momentum, ddp.parameters());
  auto step = [&](int k) { (void)cnn_step(ddp, *optimizer, k).item<float>(); };
  step(0);
  const uint64_t before = tessera::testing::cuda_on_cpu_work_counts().events_created;
  constexpr int kSteps = 10;
  for (int k = 1; k <= kSteps; ++k) step(k);
  EXPECT_EQ(tessera::testing::cuda_on_cpu_work_counts().events_created - before, 0u)
      << kSteps << " warm DDP steps over nccl (" << ddp.reducer().buckets().size() << " buckets) created CUDA events";
}

// On a GPU, NCCL's kernel waits on the device for its peers while the host goes on, and a query of its event (the
// watchdog's poll) returns at once. So here: rank 0 issues an all-reduce and queries it before rank 1 has issued
// it; rank 1 issues it only once told (over MPI) that rank 0's queries have returned. A query that waited for the
// peers would wait forever.
TEST(NcclOnCpu, AQueryReturnsWhileTheCollectiveWaitsForItsPeers) {
  SKIP_UNLESS_NCCL_ON_CPU();
  const int rank = world_comm()->rank();
  Tensor values = full({6}, rank + 1.0);
  int queried = 0;
  WorkPtr work;
  if (rank == 0) {
    work = world_comm()->allreduce(values, ReduceOp::sum, {.what = "early"});
    EXPECT_FALSE(work->is_completed());
    EXPECT_FALSE(work->is_completed()) << "completed before rank 1 issued it";
    queried = 1;
    for (int peer = 1; peer < world_comm()->size(); ++peer) MPI_Send(&queried, 1, MPI_INT, peer, 0, MPI_COMM_WORLD);
  } else {
    MPI_Recv(&queried, 1, MPI_INT, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    work = world_comm()->allreduce(values, ReduceOp::sum, {.what = "late"});
  }
  work->wait();
  const double sum = world_comm()->size() * (world_comm()->size() + 1) / 2.0;
  EXPECT_EQ(values.to_vector<double>(), std::vector<double>(6, sum));
}

// Without a watchdog (timeout 0) nobody polls the NCCL stream for errors while the compute stream waits for it, so
// the backend waits for each bucket on the host instead (NcclWork::wait_on_stream): when a step returns, its
// all-reduces have completed (here nothing else would have run them: a query says "not ready" to queued work), and
// the replicas agree.
TEST(NcclOnCpu, WithoutAWatchdogTheReducerWaitsOnTheHost) {
  SKIP_UNLESS_NCCL_ON_CPU();
  const int rank = world_comm()->rank();
  DistributedDataParallel ddp(testing::make_model("mlp", 3 + 100 * rank),
                              tessera::testing::communicator_under_test(default_device(), std::chrono::milliseconds(0)),
                              {.bucket_cap_mb = 1.0 / 1024, .first_bucket_cap_mb = 1.0 / 1024});
  auto optimizer = testing::make_optimizer(testing::OptimizerKind::sgd_momentum, ddp.parameters());
  for (int k = 0; k < 3; ++k) {
    const testing::Batch batch = testing::make_batch("mlp", 4, 10 * k + rank);
    optimizer->zero_grad();
    cross_entropy(ddp(batch.x), batch.y).backward();
    optimizer->step();
    const std::vector<WorkPtr>& works = ddp.reducer().last_step_works();
    ASSERT_GT(works.size(), 1u);
    for (size_t b = 0; b < works.size(); ++b)
      EXPECT_TRUE(works[b]->is_completed()) << "step " << k << ": bucket " << b << " was not waited for";
  }
  EXPECT_TRUE(testing::same_bytes_on_all_ranks(testing::parameter_bytes(ddp)));
}

// When NCCL fails with a collective still running (a peer gone: its kernel spins until ncclCommAbort), the
// communicator's teardown aborts it; the tensors that collective reads and writes must not go back to the caching
// allocator before the abort, or a new allocation would get memory NCCL may still write. Here each rank's first
// collective fails and stays running; at the abort, an allocation of the same size must not get its tensor's memory,
// and right after it does (the allocator reuses freed blocks: the probe can see a premature release).
TEST(NcclOnCpu, ATensorOfACollectiveStillRunningAtTheAbortIsFreedAfterIt) {
  SKIP_UNLESS_NCCL_ON_CPU();
  const std::string failure = std::to_string(world_comm()->rank()) + ":1:stuck";
  ::setenv("TESSERA_NCCL_ON_CPU_FAIL", failure.c_str(), 1);
  auto comm = tessera::testing::communicator_under_test(default_device(), std::chrono::milliseconds(0));
  ::unsetenv("TESSERA_NCCL_ON_CPU_FAIL");
  const std::vector<int64_t> shape{1 << 14};
  const void* memory = nullptr;
  {
    Tensor values = full(shape, 1.0);
    memory = values.raw_data();
    comm->allreduce(values, ReduceOp::sum, {.what = "stuck"});  // neither the Work nor the tensor is kept
  }
  bool aborted = false;
  const void* reused_at_abort = nullptr;
  tessera::testing::on_next_nccl_abort([&] {
    aborted = true;
    reused_at_abort = empty(shape).raw_data();
  });
  comm.reset();
  tessera::testing::on_next_nccl_abort({});  // not left to a later test when there was no abort
  ASSERT_TRUE(aborted) << "a communicator whose collective failed was not aborted";
  EXPECT_NE(reused_at_abort, memory) << "the running collective's tensor was freed before ncclCommAbort";
  EXPECT_EQ(empty(shape).raw_data(), memory) << "the probe cannot see a reuse: the allocator gave other memory";
}

}  // namespace
}  // namespace tessera::dist
