#pragma once
// The test device (test:0): a CpuBackend over guarded memory. Its buffers live in a host mapping that only the
// backend reaches (at address + host_offset); the addresses tensors hold point into a PROT_NONE window of the same
// size, so any host read or write of a test tensor's memory outside the backend faults. The fault handler names
// the address and prints a backtrace, so a hidden host access in an op fails loudly, as it would corrupt or crash a
// GPU run. This is how CI proves ops, modules, optimizers and DDP reach device memory only through the backend.
// It also records and replays graphs as CUDA does (emulated_gpu_backend.h), so CI tests captured steps.
#include "core/device.h"

namespace tessera::testing {

// Installs test:0 (once per process; later calls do nothing) and returns it.
Device install_test_device();

// TESSERA_TEST_DEVICE=test (how ctest's *.test_device entries run a suite): installs test:0 and makes it the
// default device, so every tensor a test makes lives there. TESSERA_TEST_DEVICE=cuda (the *.cuda entries) does the
// same with cuda:0, and on a machine without a GPU selects no test, so the suite reports itself skipped. Returns
// the device the suite runs on.
Device device_under_test();

// What test:0 runs, from TESSERA_TEST_DEVICE_BACKEND: unset or "cpu_kernels", the CPU's kernels over guarded memory
// (bitwise equal to the CPU, any host access faults, streams run late); "cuda_on_cpu" (the *.cuda_on_cpu ctest
// entries), the CUDA backend compiled for the CPU (tests/support/cuda_on_cpu/README.md: kernels/cuda's own kernels
// and host logic, a GPU's summation orders, plain host memory, every stream at once). True for the first.
bool test_device_runs_cpu_kernels();

// TESSERA_TEST_DEVICE_LATE=compute (the *.test_device_late_compute entries): the test device runs compute as late
// as a GPU may and side streams at once; unset or "side", the other way round (emulated_gpu_backend.h).
bool test_device_runs_compute_late();

// True when `address` lies in the test device's guarded window (never under cuda_on_cpu, which has none).
bool is_test_device_address(const void* address);

}  // namespace tessera::testing
