// MPI start-up, local-rank detection and the job-wide abort (see bootstrap.h).
#include "distributed/bootstrap.h"

#include <mpi.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/check.h"
#include "kernels/cpu/parallel.h"
#include "kernels/device_info.h"

namespace tessera::dist {

namespace {

World g_world;
bool g_initialized = false;
bool g_we_initialised_mpi = false;
std::once_flag g_init_once;

}  // namespace

// The launcher's own answer, when it gives one. Launcher-specific variables come first: under `mpirun` inside a
// SLURM allocation every rank inherits the batch step's SLURM_LOCALID (0), which would be wrong.
//   Open MPI's mpirun/orted: OMPI_COMM_WORLD_LOCAL_RANK / _LOCAL_SIZE (docs.open-mpi.org, "Environment variables
//   set for MPI applications"); MPICH/Intel MPI Hydra: MPI_LOCALRANKID / MPI_LOCALNRANKS; SLURM's srun (also with
//   --mpi=pmix): SLURM_LOCALID, and this step's tasks on this node from SLURM_STEP_TASKS_PER_NODE at SLURM_NODEID
//   (not SLURM_NTASKS_PER_NODE: that is the job's request, which every step inherits, also `srun -n 1`). The batch
//   script itself has SLURM_LOCALID but no step layout: MPI answers there. PMIx publishes the local rank through
//   PMIx_Get(PMIX_LOCAL_RANK), not the environment; without one of these, MPI_Comm_split_type answers.
LocalRank local_rank_from_environment(const std::function<const char*(const char*)>& get) {
  const auto is_set = [&](const char* name) {
    const char* text = get(name);
    return text && *text;
  };
  const auto number = [&](const char* name) { return is_set(name) ? std::atoi(get(name)) : -1; };
  const auto checked = [](int local_rank, int local_size) -> LocalRank {
    if (local_rank < 0 || local_rank >= local_size) return {};  // missing or inconsistent: ask MPI instead
    return {local_rank, local_size};
  };
  if (is_set("OMPI_COMM_WORLD_LOCAL_RANK"))
    return checked(number("OMPI_COMM_WORLD_LOCAL_RANK"), number("OMPI_COMM_WORLD_LOCAL_SIZE"));
  if (is_set("MPI_LOCALRANKID")) return checked(number("MPI_LOCALRANKID"), number("MPI_LOCALNRANKS"));
  if (is_set("SLURM_LOCALID")) {
    const char* layout = get("SLURM_STEP_TASKS_PER_NODE");
    return checked(number("SLURM_LOCALID"), slurm_tasks_on_node(layout ? layout : "", number("SLURM_NODEID")));
  }
  return {};
}

int slurm_tasks_on_node(const std::string& tasks_per_node, int node_id) {
  if (node_id < 0) return -1;
  // Comma-separated entries "N" (one node) or "N(xK)" (K nodes with N tasks each), nodes in order.
  size_t begin = 0;
  int node = 0;
  while (begin < tasks_per_node.size()) {
    size_t end = tasks_per_node.find(',', begin);
    if (end == std::string::npos) end = tasks_per_node.size();
    const std::string entry = tasks_per_node.substr(begin, end - begin);
    int tasks = 0, repeat = 1;
    char close = 0;
    const int matched = std::sscanf(entry.c_str(), "%d(x%d%c", &tasks, &repeat, &close);
    if (matched == 1) {
      repeat = 1;
    } else if (matched != 3 || close != ')') {
      return -1;
    }
    if (tasks < 0 || repeat < 1) return -1;
    if (node_id < node + repeat) return tasks;
    node += repeat;
    begin = end + 1;
  }
  return -1;
}

namespace {

// The ranks of this node whose affinity masks overlap this rank's (itself included): the ranks that will run on its
// CPUs. Collective over MPI_COMM_WORLD.
int ranks_sharing_my_cpus() {
  cpu_set_t mine;
  CPU_ZERO(&mine);
  if (sched_getaffinity(0, sizeof(mine), &mine) != 0) CPU_ZERO(&mine);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int size = 1;
  MPI_Comm_size(node, &size);
  std::vector<cpu_set_t> all(static_cast<size_t>(size));
  MPI_Allgather(&mine, sizeof(cpu_set_t), MPI_BYTE, all.data(), sizeof(cpu_set_t), MPI_BYTE, node);
  MPI_Comm_free(&node);
  int sharing = 0;
  for (cpu_set_t& other : all) {
    cpu_set_t both;
    CPU_AND(&both, &mine, &other);
    sharing += CPU_COUNT(&both) > 0 ? 1 : 0;
  }
  return std::max(1, sharing);
}

// CPU threads for this rank: TESSERA_NUM_THREADS when set, else the cores in its affinity mask shared evenly among
// the node's ranks whose masks overlap it: unbound ranks (the mask is the whole node or the job's cpuset), ranks
// bound to one socket or NUMA node (Open MPI's default for more than 2 ranks) never start one thread per core each.
int cpu_threads_for_rank() {
  const int sharing = ranks_sharing_my_cpus();  // collective: on every rank, whatever TESSERA_NUM_THREADS says
  // Only a positive count is one (kernels/cpu/parallel.cpp ignores anything else): an empty value, as from
  // `export TESSERA_NUM_THREADS=$SLURM_CPUS_PER_TASK` without --cpus-per-task, must not turn off the sharing below.
  if (const char* env = std::getenv("TESSERA_NUM_THREADS")) {
    if (std::atoi(env) > 0) return kernels::cpu::num_threads();
    log::warn("TESSERA_NUM_THREADS='{}' is not a positive thread count: ignored", env);
  }
  int threads = kernels::cpu::num_threads();
  if (sharing > 1) {
    threads = std::max(1, threads / sharing);
    kernels::cpu::set_num_threads(threads);
  }
  return threads;
}

// The nccl backend assumes blocking communicators (nccl/nccl_world.cpp), and NCCL_COMM_BLOCKING overrides even an
// explicit ncclConfig_t.blocking (init.cc envConfigOverride), so it is pinned here, before MPI starts its threads:
// setenv races any other thread's getenv (glibc may move the environment while it is read).
void pin_nccl_blocking() {
  if (const char* blocking = std::getenv("NCCL_COMM_BLOCKING"); blocking && std::string(blocking) != "1")
    log::warn("NCCL_COMM_BLOCKING={} ignored: the nccl backend needs blocking communicators", blocking);
  setenv("NCCL_COMM_BLOCKING", "1", 1);
}

void detect_world() {
  pin_nccl_blocking();
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
  // The communication thread calls MPI while the caller's thread may too (its own MPI calls, the watchdog's
  // MPI_Abort, the NCCL backend's id broadcast): that needs MPI_THREAD_MULTIPLE.
  TESSERA_CHECK(level >= MPI_THREAD_MULTIPLE, "MPI provides thread level ", level, " (MPI_THREAD_MULTIPLE is ",
                MPI_THREAD_MULTIPLE, "); Tessera's communication thread needs MPI_THREAD_MULTIPLE: use an MPI "
                "built with thread support (Open MPI: ompi_info | grep 'MPI_THREAD_MULTIPLE: yes')");
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);

  // Every rank must take the same branch (MPI_Comm_split_type is collective), so agree on it first.
  const LocalRank env = local_rank_from_environment([](const char* name) { return std::getenv(name); });
  int have_env = env.rank >= 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &have_env, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (have_env) {
    g_world.local_rank = env.rank;
    g_world.local_size = env.size;
  } else {
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world.rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &g_world.local_rank);
    MPI_Comm_size(node, &g_world.local_size);
    MPI_Comm_free(&node);
  }
  const int devices = kernels::cuda_device_count();
  g_world.device = devices > 0 ? g_world.local_rank % devices : -1;
  g_world.cpu_threads = cpu_threads_for_rank();
  g_initialized = true;
  log::set_rank(g_world.rank, g_world.size);
  log::debug("bootstrap: local rank {} of {}, GPU {} (-1: none), {} CPU threads", g_world.local_rank,
             g_world.local_size, g_world.device, g_world.cpu_threads);
}

}  // namespace

const World& init(int* /*argc*/, char*** /*argv*/) {
  std::call_once(g_init_once, detect_world);
  return g_world;
}

bool initialized() { return g_initialized; }

const World& world() { return init(); }

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string version(text, static_cast<size_t>(length));
  return version.substr(0, version.find_first_of(",\n"));  // "Open MPI v4.1.4"
}

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
