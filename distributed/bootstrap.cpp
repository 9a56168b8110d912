// MPI start-up, local-rank detection and the job-wide abort (see bootstrap.h).
#include "distributed/bootstrap.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>

#include "core/check.h"
#include "kernels/cpu/parallel.h"
#include "kernels/device_info.h"

namespace tessera::dist {

namespace {

World g_world;
bool g_initialized = false;
bool g_we_initialised_mpi = false;
std::once_flag g_init_once;

// The launcher's own answer, when it gives one: Open MPI's mpirun, SLURM's srun, PMIx, MPICH/Intel MPI.
int local_rank_from_environment(int* local_size) {
  static const char* const rank_vars[][2] = {{"OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
                                             {"SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"},
                                             {"PMIX_LOCAL_RANK", "PMIX_LOCAL_SIZE"},
                                             {"MPI_LOCALRANKID", "MPI_LOCALNRANKS"}};
  for (const auto& pair : rank_vars) {
    const char* rank = std::getenv(pair[0]);
    if (!rank || !*rank) continue;
    const char* size = std::getenv(pair[1]);
    *local_size = size && *size ? std::atoi(size) : -1;
    return std::atoi(rank);
  }
  return -1;
}

void detect_world() {
  int provided = 0;
  MPI_Initialized(&provided);
  if (!provided) {
    int level = 0;
    TESSERA_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &level) == MPI_SUCCESS,
                  "MPI_Init_thread failed");
    g_we_initialised_mpi = true;
    std::atexit(finalize);
  }
  int level = 0;
  MPI_Query_thread(&level);
  TESSERA_CHECK(level >= MPI_THREAD_SERIALIZED, "MPI provides thread level ", level,
                " but Tessera's communication thread needs at least MPI_THREAD_SERIALIZED");
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);

  // Every rank must take the same branch (MPI_Comm_split_type is collective), so agree on it first.
  int env_local_size = -1;
  const int env_local_rank = local_rank_from_environment(&env_local_size);
  int have_env = env_local_rank >= 0 && env_local_size > 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &have_env, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (have_env) {
    g_world.local_rank = env_local_rank;
    g_world.local_size = env_local_size;
  } else {
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world.rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &g_world.local_rank);
    MPI_Comm_size(node, &g_world.local_size);
    MPI_Comm_free(&node);
  }
  const int devices = kernels::cuda_device_count();
  g_world.device = devices > 0 ? g_world.local_rank % devices : -1;
  g_world.cpu_threads = kernels::cpu::num_threads();  // TESSERA_NUM_THREADS, else this rank's affinity mask
  g_initialized = true;
}

}  // namespace

const World& init(int* /*argc*/, char*** /*argv*/) {
  std::call_once(g_init_once, detect_world);
  return g_world;
}

bool initialized() { return g_initialized; }

const World& world() { return init(); }

void finalize() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (g_we_initialised_mpi && !finalized) MPI_Finalize();
}

void abort_job(const std::string& message, int exit_code) {
  std::fprintf(stderr, "[rank %d of %d] %s\n", g_world.rank, g_world.size, message.c_str());
  std::fflush(stderr);
  if (g_initialized && g_world.size > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

int run_guarded(const std::function<int()>& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    abort_job("error: " + e.message());
  } catch (const std::exception& e) {
    abort_job(std::string("error: ") + e.what());
  }
}

}  // namespace tessera::dist
