// dist::init under real mpirun: world size and rank agree with MPI, local ranks are a permutation of the node's
// ranks (one node here), the environment's answer matches MPI_Comm_split_type's, and the CPU share is set.
#include <gtest/gtest.h>
#include <mpi.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "distributed/bootstrap.h"
#include "kernels/cpu/parallel.h"

using namespace tessera;

TEST(Bootstrap, WorldMatchesMpi) {
  const auto& world = dist::world();
  int rank = -1, size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(world.rank, rank);
  EXPECT_EQ(world.size, size);
  EXPECT_GE(world.size, 2) << "this suite runs under mpirun -n 2 or more";
  EXPECT_GE(world.cpu_threads, 1);
  EXPECT_TRUE(dist::initialized());
  EXPECT_EQ(&dist::init(), &world) << "init() is idempotent";
}

TEST(Bootstrap, LocalRanksArePermutationOfNode) {
  const auto& world = dist::world();
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world.rank, MPI_INFO_NULL, &node);
  int node_size = 0;
  MPI_Comm_size(node, &node_size);
  std::vector<int> local(node_size);
  MPI_Allgather(&world.local_rank, 1, MPI_INT, local.data(), 1, MPI_INT, node);
  MPI_Comm_free(&node);
  EXPECT_EQ(world.local_size, node_size);
  std::sort(local.begin(), local.end());
  for (int i = 0; i < node_size; ++i) EXPECT_EQ(local[i], i);
  // Open MPI's launcher exports the local rank; it must be what we picked.
  if (const char* env = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK")) {
    EXPECT_EQ(world.local_rank, std::atoi(env));
  }
}

// Without TESSERA_NUM_THREADS the ranks of an unbound node share its cores; with it, it is used as given
// (ctest sets it to 1 for multi-rank tests).
TEST(Bootstrap, CpuThreads) {
  const auto& world = dist::world();
  if (const char* env = std::getenv("TESSERA_NUM_THREADS")) {
    EXPECT_EQ(world.cpu_threads, std::atoi(env));
  } else {
    EXPECT_LE(world.cpu_threads * world.local_size, std::max<long>(sysconf(_SC_NPROCESSORS_ONLN), world.local_size));
  }
  EXPECT_EQ(world.cpu_threads, kernels::cpu::num_threads());
}
