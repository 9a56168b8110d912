#pragma once
// What the nccl backend and the raw ncclAllReduce peer share: CUDA/NCCL error checks that name the failed call, and
// joining the world's NCCL communicator (rank 0's ncclUniqueId broadcast over MPI_COMM_WORLD, then
// ncclCommInitRank on this rank's GPU).
#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

#include "distributed/collective_call.h"

namespace tessera::dist::nccl {

// Throw tessera::Error "<who>: <what> failed: <CUDA/NCCL error>" (NCCL's own last-error text appended, which says
// e.g. "Duplicate GPU detected").
void check_cuda(cudaError_t code, const char* who, const std::string& what);
void check_nccl(ncclResult_t code, const char* who, const std::string& what);
// The same for a step of a collective ("<what> <call>"), the message formatted only on failure: each collective
// makes several such checks, and CollectiveCall::describe costs about half a microsecond.
void check_cuda(cudaError_t code, const char* who, const char* what, const CollectiveCall& call);
void check_nccl(ncclResult_t code, const char* who, const CollectiveCall& call);

// Collective over MPI_COMM_WORLD (every rank calls it, in the same order as its other MPI collectives): selects
// `device` for the calling thread, checks that the loaded libnccl is >= 2.10 (ncclAvg, ncclBfloat16), and returns a
// communicator of every rank of the world. `who` names the caller in errors.
ncclComm_t init_world_comm(int device, const char* who);

}  // namespace tessera::dist::nccl
