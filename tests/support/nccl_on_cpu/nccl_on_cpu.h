#pragma once
// The communicator the distributed suites run on (README.md beside this file).
#include <chrono>
#include <functional>
#include <memory>

#include "core/device.h"
#include "distributed/communicator.h"

namespace tessera::testing {

// For tensors on `device`: what make_communicator's "auto" gives, unless TESSERA_TEST_COMMUNICATOR=nccl_on_cpu
// (the *.nccl_on_cpu ctest entries): then distributed/nccl's own code, built over the CPU build of the CUDA backend
// and NCCL calls made over MPI, carries the device tensors, and MPI the host ones, as backend "nccl" does on GPUs.
// That needs the test device running the CUDA backend (TESSERA_TEST_DEVICE_BACKEND=cuda_on_cpu); a build
// without it throws. `timeout` as CommunicatorOptions' (-1: the default).
std::shared_ptr<dist::Communicator> communicator_under_test(
    const Device& device, std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));

// Whether the suites run over nccl_on_cpu (TESSERA_TEST_COMMUNICATOR=nccl_on_cpu), and whether this build has it.
bool testing_nccl_on_cpu();
bool nccl_on_cpu_built();

// Runs `hook` once, at the start of the next ncclCommAbort of a nccl_on_cpu communicator: the moment NCCL stops
// touching the buffers of collectives it had not finished. A build without nccl_on_cpu throws.
void on_next_nccl_abort(std::function<void()> hook);

}  // namespace tessera::testing
