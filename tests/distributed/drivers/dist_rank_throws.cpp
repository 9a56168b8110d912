// Failure driver: the last rank throws after one good collective, while every other rank waits in the next one.
// run_guarded turns the exception into abort_job: the message is logged and every rank ends non-zero, no hang.
// Run by tests/launch/dist_rank_throws.sh.
#include "core/core.h"
#include "distributed/bootstrap.h"
#include "distributed/communicator.h"

int main(int argc, char** argv) {
  using namespace tessera;
  return dist::run_guarded([&] {
    const auto& world = dist::init(&argc, &argv);
    auto comm = dist::make_communicator({.backend = "mpi"});
    Tensor t = full({1000}, 1.0);
    comm->allreduce(t)->wait();
    if (world.rank == world.size - 1) TESSERA_THROW("rank ", world.rank, " fails on purpose after one allreduce");
    comm->allreduce(t, dist::ReduceOp::sum, {.what = "never matched"})->wait();
    return 0;
  });
}
