#pragma once
// The devices the backend-comparison suites check against the CPU (ggml's test-backend-ops idea): the guarded test
// device (the CPU's own kernels, so results must be bitwise equal and any host access faults) and cuda:0 (where
// transcendental functions and summation order differ by a few ulp). Suites are parameterised by the device name;
// the cuda instance skips on a machine without a GPU.
#include <gtest/gtest.h>

#include <string>

#include "core/core.h"

namespace tessera::testing {

// "test" or "cuda": installs the test device or checks for a GPU (GTEST_SKIP()s the caller's test if there is
// none; call it from SetUp) and returns the device.
Device compared_device(const std::string& name);

// The base fixture of a suite parameterised by kComparedDevices: SetUp picks the running test's device, which
// current_compared_device() returns to the suite's helpers.
class ComparedDeviceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
};
Device current_compared_device();

// Whether `device` computes with the CPU's kernels (the CPU, or the test device over them), so results are bitwise
// the CPU's.
bool runs_cpu_kernels(Device device);

// The relative (and absolute) tolerance of a device's results against the CPU's: 0 on the test device; on a GPU a
// few ulp of the computing type, which rounding to bf16/f16 can turn into one ulp of the stored type.
double device_tolerance(Device device, DType dtype);

// Same shape, dtype and values within device_tolerance (bitwise on the test device, NaN equal to NaN); the device
// result must not have left its device for the CPU.
void expect_device_matches(const Tensor& on_device, const Tensor& on_cpu, const std::string& what);

// Parameter values and names for INSTANTIATE_TEST_SUITE_P(Suite, Suite, kComparedDevices, device_param_name).
inline const auto kComparedDevices = ::testing::Values(std::string("test"), std::string("cuda"));
inline std::string device_param_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

}  // namespace tessera::testing
