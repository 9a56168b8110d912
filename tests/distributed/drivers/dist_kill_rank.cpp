// Failure driver: every rank loops over allreduces; the last rank SIGKILLs itself from a side thread while the loop
// is running, so it dies in the middle of a collective with no chance to log or abort. The job must still end
// non-zero within the collective timeout (mpirun notices the death; the watchdog is the backstop).
// Run by tests/launch/dist_rank_killed.sh.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "core/core.h"
#include "distributed/bootstrap.h"
#include "distributed/communicator.h"

int main(int argc, char** argv) {
  using namespace tessera;
  return dist::run_guarded([&] {
    const auto& world = dist::init(&argc, &argv);
    auto comm = dist::make_communicator({.backend = "mpi"});
    if (world.rank == world.size - 1) {
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        std::fprintf(stderr, "dist_kill_rank: sending SIGKILL to myself\n");
        kill(getpid(), SIGKILL);
      }).detach();
    }
    Tensor t = full({1 << 20}, 1.0);
    for (int64_t step = 0; step < 1000000; ++step)
      comm->allreduce(t, dist::ReduceOp::avg, {.what = "loop", .step = step})->wait();
    return 0;
  });
}
