#pragma once
// Included first (-include) in distributed/nccl's sources when they are built over the CPU build of the CUDA
// backend (README.md). The headers those sources include from outside distributed/nccl are read first, unchanged;
// then macros send their CUDA runtime calls to that library's runtime (runtime_table.h), their NCCL calls to
// fake_nccl.h, and rename what they define (namespace nccl, the factory, the inline error checks of
// kernels/cuda/cuda_check.h), so the same program can link the real nccl backend beside this one without a clash.
// distributed/nccl's own headers, cuda_check.h and stream.h are read after the macros, so they get the new names.
// Any other header those sources come to include must be added to the list below, read before the macros: the
// check checks.nccl_on_cpu_redirects (check_redirects.sh) fails when a redirected object calls the real runtime or
// NCCL, or defines a symbol of kernels::cuda or of the real nccl backend.
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <chrono>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "core/log.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "distributed/collective_call.h"
#include "distributed/communicator.h"
#include "distributed/watchdog.h"
#include "kernels/common/check.h"
#include "tests/support/cuda_on_cpu/runtime_table.h"
#include "tests/support/nccl_on_cpu/fake_nccl.h"

namespace tessera::dist {
// world() with the CPU build's one GPU as this rank's device (the real world() finds no GPU here).
const World& nccl_on_cpu_world();
}  // namespace tessera::dist

// The CUDA runtime of the CPU build (a macro is not expanded again inside its own expansion).
#define cudaGetLastError (tessera_cuda_on_cpu_runtime()->cudaGetLastError)
#define cudaGetErrorName (tessera_cuda_on_cpu_runtime()->cudaGetErrorName)
#define cudaGetErrorString (tessera_cuda_on_cpu_runtime()->cudaGetErrorString)
#define cudaSetDevice (tessera_cuda_on_cpu_runtime()->cudaSetDevice)
#define cudaMalloc (tessera_cuda_on_cpu_runtime()->cudaMalloc)
#define cudaFree (tessera_cuda_on_cpu_runtime()->cudaFree)
#define cudaMemsetAsync (tessera_cuda_on_cpu_runtime()->cudaMemsetAsync)
#define cudaPointerGetAttributes (tessera_cuda_on_cpu_runtime()->cudaPointerGetAttributes)
#define cudaStreamCreateWithFlags (tessera_cuda_on_cpu_runtime()->cudaStreamCreateWithFlags)
#define cudaStreamDestroy (tessera_cuda_on_cpu_runtime()->cudaStreamDestroy)
#define cudaStreamQuery (tessera_cuda_on_cpu_runtime()->cudaStreamQuery)
#define cudaStreamSynchronize (tessera_cuda_on_cpu_runtime()->cudaStreamSynchronize)
#define cudaStreamWaitEvent (tessera_cuda_on_cpu_runtime()->cudaStreamWaitEvent)
#define cudaEventCreate (tessera_cuda_on_cpu_runtime()->cudaEventCreate)
#define cudaEventCreateWithFlags (tessera_cuda_on_cpu_runtime()->cudaEventCreateWithFlags)
#define cudaEventDestroy (tessera_cuda_on_cpu_runtime()->cudaEventDestroy)
#define cudaEventRecord (tessera_cuda_on_cpu_runtime()->cudaEventRecord)
#define cudaEventQuery (tessera_cuda_on_cpu_runtime()->cudaEventQuery)

// NCCL over MPI.
#define ncclGetVersion ::tessera::fake_nccl::ncclGetVersion
#define ncclGetUniqueId ::tessera::fake_nccl::ncclGetUniqueId
#define ncclCommInitRank ::tessera::fake_nccl::ncclCommInitRank
#define ncclCommDestroy ::tessera::fake_nccl::ncclCommDestroy
#define ncclCommAbort ::tessera::fake_nccl::ncclCommAbort
#define ncclCommGetAsyncError ::tessera::fake_nccl::ncclCommGetAsyncError
#define ncclGetErrorString ::tessera::fake_nccl::ncclGetErrorString
#define ncclGetLastError ::tessera::fake_nccl::ncclGetLastError
#define ncclAllReduce ::tessera::fake_nccl::ncclAllReduce
#define ncclBroadcast ::tessera::fake_nccl::ncclBroadcast
#define ncclAllGather ::tessera::fake_nccl::ncclAllGather
#define ncclReduceScatter ::tessera::fake_nccl::ncclReduceScatter

// What the sources define or call by name.
#define nccl nccl_on_cpu
#define make_nccl_communicator make_nccl_on_cpu_communicator
#define nccl_compiled nccl_on_cpu_compiled
#define nccl_version nccl_on_cpu_version
#define world() nccl_on_cpu_world()
#define current_stream(device) current_stream_on_cpu(device)
#define cuda_still_pending cuda_still_pending_on_cpu
#define discard_cuda_error discard_cuda_error_on_cpu
