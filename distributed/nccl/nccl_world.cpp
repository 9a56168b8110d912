#include "distributed/nccl/nccl_world.h"

#include <mpi.h>

#include <cstdlib>

#include "core/check.h"
#include "core/log.h"
#include "distributed/bootstrap.h"

// ncclAvg and ncclBfloat16 arrived in NCCL 2.10; older headers fail here rather than with an unknown name.
static_assert(NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0), "Tessera's nccl backend needs NCCL >= 2.10");

namespace tessera::dist::nccl {

void check_cuda(cudaError_t code, const char* who, const std::string& what) {
  if (code == cudaSuccess) return;
  (void)cudaGetLastError();  // a non-sticky error would otherwise be reported again by the next launch check
  TESSERA_THROW(who, ": ", what, " failed: ", cudaGetErrorName(code), " (", cudaGetErrorString(code), ")");
}

void check_cuda(cudaError_t code, const char* who, const char* what, const CollectiveCall& call) {
  if (code != cudaSuccess) check_cuda(code, who, std::string(what) + " " + call.describe());
}

void check_nccl(ncclResult_t code, const char* who, const CollectiveCall& call) {
  if (code != ncclSuccess) check_nccl(code, who, call.describe());
}

void check_nccl(ncclResult_t code, const char* who, const std::string& what) {
  if (code == ncclSuccess) return;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  const char* detail = ncclGetLastError(nullptr);
#else
  const char* detail = nullptr;
#endif
  TESSERA_THROW(who, ": ", what, " failed: ", ncclGetErrorString(code),
                detail && *detail ? std::string(" (") + detail + ")" : std::string());
}

ncclComm_t init_world_comm(int device, const char* who) {
  const World& w = world();
  TESSERA_CHECK(device >= 0, who, ": rank ", w.rank, " has no GPU (CUDA reports no device); use the mpi backend");
  check_cuda(cudaSetDevice(device), who, "cudaSetDevice(" + std::to_string(device) + ")");
  int version = 0;
  check_nccl(ncclGetVersion(&version), who, "ncclGetVersion");
  TESSERA_CHECK(version >= NCCL_VERSION(2, 10, 0), who, ": the loaded libnccl is version code ", version,
                ", older than 2.10 (needed for avg and bf16); built against ", NCCL_VERSION_CODE);
  // The backend assumes a blocking communicator (no ncclInProgress from init, collectives or
  // ncclCommGetAsyncError, whose non-blocking form also completes group jobs from whichever thread polls it):
  // world() ran dist::init, which set NCCL_COMM_BLOCKING=1 before any thread could read the environment.
  ncclUniqueId id{};
  if (w.rank == 0) check_nccl(ncclGetUniqueId(&id), who, "ncclGetUniqueId");
  // MPI_COMM_WORLD's handler is MPI_ERRORS_ARE_FATAL: a failure here ends the job with MPI's own message.
  MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
  ncclComm_t comm = nullptr;
  check_nccl(ncclCommInitRank(&comm, w.size, id, w.rank), who,
             "ncclCommInitRank (rank " + std::to_string(w.rank) + " of " + std::to_string(w.size) + ", GPU " +
                 std::to_string(device) + ")");
  return comm;
}

}  // namespace tessera::dist::nccl
