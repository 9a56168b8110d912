#pragma once
// Process start-up for data-parallel runs: MPI is the bootstrap.
//
// Invariants:
// - init() is idempotent and safe to call from a program that was not started by mpirun (world size 1).
// - Library code never exits; abort_job() is the one way to end every rank, used by run_guarded() and the
//   watchdog. It logs "[rank r] message" to stderr first, so the reason is never lost.
#include <functional>
#include <string>

namespace tessera::dist {

struct World {
  int rank = 0;
  int size = 1;
  int local_rank = 0;  // rank among the processes on this node
  int local_size = 1;
  int device = -1;     // GPU this rank uses (local_rank % device_count), -1 without a GPU
  int cpu_threads = 1; // CPU threads this rank's kernels use (see init())
};

// Initialises MPI (MPI_Init_thread; MPI_THREAD_MULTIPLE required) unless already initialised, detects the local
// rank (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID, else MPI_Comm_split_type(SHARED)), picks the
// GPU, and sets the CPU thread count (TESSERA_NUM_THREADS, else the affinity mask, shared among the node's ranks
// when the launcher did not bind them). Returns the world; later calls return the same.
const World& init(int* argc = nullptr, char*** argv = nullptr);
bool initialized();
const World& world();  // init() on first use
// The local rank and size the launcher exported, {-1, -1} when none did (or inconsistently), looked up with `get`
// (std::getenv in init()): OMPI_COMM_WORLD_LOCAL_RANK/_SIZE, then MPI_LOCALRANKID/MPI_LOCALNRANKS, then srun's
// SLURM_LOCALID with SLURM_STEP_TASKS_PER_NODE at SLURM_NODEID. Launcher-specific variables first: under mpirun
// inside a SLURM allocation every rank inherits the batch step's SLURM_LOCALID.
struct LocalRank {
  int rank = -1, size = -1;
};
LocalRank local_rank_from_environment(const std::function<const char*(const char*)>& get);
// Tasks on node `node_id` in SLURM's SLURM_STEP_TASKS_PER_NODE ("2", "4,1", "2(x3),1"); -1 when the text is
// malformed or has no such node.
int slurm_tasks_on_node(const std::string& tasks_per_node, int node_id);

// The MPI library's own version line (MPI_Get_library_version; callable before init()).
std::string mpi_library_version();

// MPI_Finalize if this process initialised MPI and it is not finalised yet. Registered atexit by init().
void finalize();

// Logs the message with this rank's number and ends the whole job non-zero: MPI_Abort when more than one rank,
// std::_Exit otherwise. Never returns, never hangs.
[[noreturn]] void abort_job(const std::string& message, int exit_code = 1);

// Runs fn; an exception (tessera::Error or std::exception) becomes abort_job with its message, so one failing
// rank ends every rank. For the main() of programs, tests and the CLI. Returns fn's exit code.
int run_guarded(const std::function<int()>& fn);

}  // namespace tessera::dist
