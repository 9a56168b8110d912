// Failure driver for DistributedDataParallel jobs: trains the test MLP on every rank and breaks one thing, chosen by
// --mode; tests/launch/ddp_*.sh check that the job ends non-zero, in time, with the right message.
//   model-mismatch    the last rank builds a narrower first layer: construction fails on every rank, naming it
//   unused-parameter  the last rank's model has a layer its forward skips: its forward fails naming the parameter
//                     while the other ranks wait in their all-reduces
//   rank-throws       the last rank throws at step 3, between forward and backward
//   rank-killed       the last rank SIGKILLs itself at step 3, inside backward (from a gradient hook), after some
//                     of its buckets' all-reduces have started
//   rank-stalls       the last rank sleeps 100 s at the same point: the others wait in the last bucket's all-reduce
//                     until the watchdog names it
//   nccl-error        over the nccl backend built for the CPU (tests/support/nccl_on_cpu; the script sets the test
//                     device and TESSERA_NCCL_ON_CPU_FAIL, which makes one collective of the last rank fail as a
//                     network error would): the job ends with NCCL's error
//   nccl-rank-stalls  rank-stalls over that nccl backend: the others' last bucket waits on the NCCL stream, and
//                     their host waits to read step 3's loss, until the nccl backend's watchdog names the bucket
//   nccl-on-cpu-built exits 0 where this build has it, 77 where not, at once (the script asks before nccl-error)
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <chrono>
#include <cstring>
#include <thread>
#include <string>

#include "distributed/bootstrap.h"
#include "distributed/ddp.h"
#include "tests/distributed/ddp_test_models.h"
#include "tests/support/nccl_on_cpu/nccl_on_cpu.h"
#include "tests/support/test_device.h"

namespace {

using namespace tessera;

int train(const std::string& mode) {
  const auto& world = dist::init();
  const bool culprit = world.rank == world.size - 1;
  const bool over_nccl = mode == "nccl-error" || mode == "nccl-rank-stalls";
  const bool stalls = mode == "rank-stalls" || mode == "nccl-rank-stalls";
  std::shared_ptr<nn::Module> model;
  if (mode == "model-mismatch") model = dist::testing::make_model("mlp", 7, culprit ? 20 : 24);
  else if (mode == "unused-parameter") model = std::make_shared<dist::testing::WithOptionalLayer>(!culprit, 7);
  else if (mode == "rank-throws" || mode == "rank-killed" || stalls || over_nccl)
    model = dist::testing::make_model("mlp", 7);
  else TESSERA_THROW("ddp_failure: unknown --mode '", mode, "'");

  constexpr int kFailureStep = 3;
  int step = 0;
  if ((mode == "rank-killed" || stalls) && culprit) {
    // The first layer's weight gets its gradient last: by then the other buckets' all-reduces are under way.
    model->parameters()[0].register_post_accumulate_grad_hook([&](Tensor&) {
      if (step != kFailureStep) return;
      if (stalls) {
        std::fprintf(stderr, "ddp_failure: rank %d stalls inside backward at step %d\n", world.rank, step);
        std::this_thread::sleep_for(std::chrono::seconds(100));
        return;
      }
      std::fprintf(stderr, "ddp_failure: rank %d kills itself inside backward at step %d\n", world.rank, step);
      kill(getpid(), SIGKILL);
    });
  }
  const double cap = 256.0 / (1 << 20);
  std::shared_ptr<dist::Communicator> comm;
  if (over_nccl) {
    model->to(testing::device_under_test());
    comm = testing::communicator_under_test(default_device());
  } else {
    comm = dist::make_communicator({.backend = "mpi"});
  }
  dist::DistributedDataParallel ddp(model, comm, {.bucket_cap_mb = cap, .first_bucket_cap_mb = cap});
  auto optimizer = dist::testing::make_optimizer(dist::testing::OptimizerKind::sgd_momentum, ddp.parameters());
  for (; step < 10; ++step) {
    const auto batch = dist::testing::make_batch("mlp", 4, 100 * world.rank + step);
    optimizer->zero_grad();
    Tensor loss = cross_entropy(ddp(batch.x), batch.y);
    if (mode == "rank-throws" && culprit && step == kFailureStep)
      TESSERA_THROW("rank ", world.rank, " fails on purpose at step ", step);
    loss.backward();
    optimizer->step();
    // As a progress bar does. The read follows the optimizer's wait for the last bucket on the compute stream, so at
    // step 3 the other ranks' hosts wait there, in the runtime, while the watchdog polls the collective.
    if (over_nccl) std::fprintf(stderr, "ddp_failure: rank %d step %d loss %.4f\n", world.rank, step, loss.item<float>());
  }
  std::fprintf(stderr, "ddp_failure: rank %d finished all steps\n", world.rank);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::strcmp(argv[1], "--mode") != 0) {
    std::fprintf(stderr, "usage: ddp_failure --mode model-mismatch|unused-parameter|rank-throws|rank-killed|\n"
                 "                        rank-stalls|nccl-error|nccl-rank-stalls\n");
    return 2;
  }
  if (std::strcmp(argv[2], "nccl-on-cpu-built") == 0) return tessera::testing::nccl_on_cpu_built() ? 0 : 77;
  return dist::run_guarded([&] {
    dist::init(&argc, &argv);
    return train(argv[2]);
  });
}
