// Failure driver: the last rank never joins an allreduce (it sleeps instead), so the others wait in it until the
// watchdog (TESSERA_COLLECTIVE_TIMEOUT, set short by the script) ends the job with a message naming the collective,
// its tag (bucket, step), the rank and the time waited. Run by tests/launch/dist_collective_timeout.sh.
#include <chrono>
#include <thread>

#include "core/core.h"
#include "distributed/bootstrap.h"
#include "distributed/communicator.h"

int main(int argc, char** argv) {
  using namespace tessera;
  return dist::run_guarded([&] {
    const auto& world = dist::init(&argc, &argv);
    auto comm = dist::make_communicator({.backend = "mpi"});
    Tensor t = full({4096}, 1.0);
    comm->allreduce(t, dist::ReduceOp::sum, {.what = "bucket 0", .step = 17})->wait();
    if (world.rank == world.size - 1) {
      std::this_thread::sleep_for(std::chrono::seconds(100));  // longer than the script's timeout wrapper allows
      return 0;
    }
    comm->allreduce(t, dist::ReduceOp::sum, {.what = "bucket 3", .step = 17})->wait();
    return 0;
  });
}
