// Prints what dist::init() detected on each rank, one line per rank, beside the two answers it chooses between:
// the launcher's environment (local_rank_from_environment) and the node's shared-memory communicator
// (MPI_Comm_split_type); also the CPUs the rank may run on (its affinity mask) and which launcher variables were
// set, and the host name. Lets tests/launch/slurm_train.sh check that under srun every rank took its local rank
// from SLURM_LOCALID, not from a fallback, and was bound as asked, and tests/launch/two_hosts.sh which host each
// rank ran on. Ignores its arguments, so a launch script can start it in place of `tessera` (TESSERA_BIN).
#include <mpi.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "distributed/bootstrap.h"

namespace {

std::string variable(const char* name) {
  const char* value = std::getenv(name);
  return std::string(name) + "=" + (value ? value : "unset");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera;
  return dist::run_guarded([&] {
    const auto& world = dist::init(&argc, &argv);
    const auto env = dist::local_rank_from_environment([](const char* name) { return std::getenv(name); });
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world.rank, MPI_INFO_NULL, &node);
    int node_rank = 0, node_size = 0;
    MPI_Comm_rank(node, &node_rank);
    MPI_Comm_size(node, &node_size);
    MPI_Comm_free(&node);
    cpu_set_t mask;
    const int bound_cpus = sched_getaffinity(0, sizeof(mask), &mask) == 0 ? CPU_COUNT(&mask) : -1;
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    std::printf("world_info: rank %d of %d, local rank %d of %d, cpu threads %d, affinity %d cpus | "
                "environment %d of %d | node %d of %d | %s %s %s %s %s | host %s\n",
                world.rank, world.size, world.local_rank, world.local_size, world.cpu_threads, bound_cpus, env.rank,
                env.size,
                node_rank, node_size, variable("OMPI_COMM_WORLD_LOCAL_RANK").c_str(),
                variable("MPI_LOCALRANKID").c_str(), variable("SLURM_LOCALID").c_str(),
                variable("SLURM_STEP_TASKS_PER_NODE").c_str(), variable("SLURM_NTASKS_PER_NODE").c_str(), host);
    std::fflush(stdout);
    return 0;
  });
}
