#pragma once
// Process start-up for data-parallel runs: MPI is the bootstrap (DESIGN.md, "Distributed contracts").
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
  int cpu_threads = 1; // cores this rank may use (its affinity mask)
};

// Initialises MPI (MPI_Init_thread, MPI_THREAD_MULTIPLE requested) unless already initialised, detects the local
// rank (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, PMIX/MPI_LOCALRANKID, else MPI_Comm_split_type(SHARED)),
// picks the GPU, and sets the CPU thread count. Returns the world; later calls return the same.
const World& init(int* argc = nullptr, char*** argv = nullptr);
bool initialized();
const World& world();  // init() on first use
// MPI_Finalize if this process initialised MPI and it is not finalised yet. Registered atexit by init().
void finalize();

// Logs the message with this rank's number and ends the whole job non-zero: MPI_Abort when more than one rank,
// std::_Exit otherwise. Never returns, never hangs.
[[noreturn]] void abort_job(const std::string& message, int exit_code = 1);

// Runs fn; an exception (tessera::Error or std::exception) becomes abort_job with its message, so one failing
// rank ends every rank. For the main() of programs, tests and the CLI. Returns fn's exit code.
int run_guarded(const std::function<int()>& fn);

}  // namespace tessera::dist
