#pragma once
// The NCCL calls the nccl backend makes, over MPI, for the nccl backend built over the CPU build of the CUDA
// backend (README.md). Each collective is queued on its CUDA stream as lasting work of that runtime, so it starts in
// stream order, when something needs it, as the nonblocking MPI collective on the buffers (that runtime's device
// memory is host memory) over a duplicate of MPI_COMM_WORLD, and the stream's later work waits until it completes. Same names and signatures as
// nccl.h's, in their own namespace, so the real libnccl that test programs link is never replaced.
#include <cuda_runtime.h>
#include <nccl.h>

#include <functional>

namespace tessera::fake_nccl {

ncclResult_t ncclGetVersion(int* version);
ncclResult_t ncclGetUniqueId(ncclUniqueId* id);
ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank);
ncclResult_t ncclCommDestroy(ncclComm_t comm);
ncclResult_t ncclCommAbort(ncclComm_t comm);
ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* async_error);
const char* ncclGetErrorString(ncclResult_t result);
const char* ncclGetLastError(ncclComm_t comm);

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream);
ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t type, int root,
                           ncclComm_t comm, cudaStream_t stream);
ncclResult_t ncclAllGather(const void* send, void* recv, size_t send_count, ncclDataType_t type, ncclComm_t comm,
                           cudaStream_t stream);
ncclResult_t ncclReduceScatter(const void* send, void* recv, size_t recv_count, ncclDataType_t type,
                               ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream);

// For tests: `hook` runs once, at the start of the next ncclCommAbort (the moment NCCL stops touching buffers).
void set_abort_hook(std::function<void()> hook);

}  // namespace tessera::fake_nccl
