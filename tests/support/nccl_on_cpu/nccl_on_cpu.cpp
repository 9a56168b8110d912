// The distributed suites' communicator.
#include "tests/support/nccl_on_cpu/nccl_on_cpu.h"

#include <cstdlib>
#include <string>
#include <utility>

#include "core/check.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "distributed/routed_communicator.h"
#include "tests/support/test_device.h"

#ifndef TESSERA_NCCL_ON_CPU
#define TESSERA_NCCL_ON_CPU 0
#endif

#if TESSERA_NCCL_ON_CPU
#include "tests/support/nccl_on_cpu/fake_nccl.h"

namespace tessera::dist {
std::shared_ptr<Communicator> make_nccl_on_cpu_communicator(const CommunicatorOptions& options);  // redirect.h
}  // namespace tessera::dist
#endif

namespace tessera::testing {

bool testing_nccl_on_cpu() {
  const char* value = std::getenv("TESSERA_TEST_COMMUNICATOR");
  return value != nullptr && std::string(value) == "nccl_on_cpu";
}

bool nccl_on_cpu_built() { return TESSERA_NCCL_ON_CPU; }

std::shared_ptr<dist::Communicator> communicator_under_test(const Device& device, std::chrono::milliseconds timeout) {
  if (!testing_nccl_on_cpu()) return dist::make_communicator({.device = device, .timeout = timeout});
#if TESSERA_NCCL_ON_CPU
  TESSERA_CHECK(!device.is_cpu() && !test_device_runs_cpu_kernels(), "TESSERA_TEST_COMMUNICATOR=nccl_on_cpu needs ",
                "the test device running the CUDA backend (TESSERA_TEST_DEVICE=test, ",
                "TESSERA_TEST_DEVICE_BACKEND=cuda_on_cpu); the tensors are on ", device.str());
  const dist::CommunicatorOptions options{.backend = "nccl", .device = device, .timeout = timeout};
  return std::make_shared<dist::RoutedCommunicator>(dist::make_nccl_on_cpu_communicator(options),
                                                    dist::make_mpi_communicator(options));
#else
  TESSERA_THROW("TESSERA_TEST_COMMUNICATOR=nccl_on_cpu: this build has no CPU build of the CUDA backend");
#endif
}

void on_next_nccl_abort(std::function<void()> hook) {
#if TESSERA_NCCL_ON_CPU
  fake_nccl::set_abort_hook(std::move(hook));
#else
  (void)hook;
  TESSERA_THROW("on_next_nccl_abort: this build has no CPU build of the CUDA backend");
#endif
}

}  // namespace tessera::testing
