#include "tests/support/compared_device.h"

#include <cmath>
#include <cstring>

#include "kernels/device_info.h"
#include "tests/support/test_device.h"

namespace tessera::testing {

Device compared_device(const std::string& name) {
  if (name == "test") return install_test_device();
  if (kernels::cuda_device_count() == 0) {
    [] { GTEST_SKIP() << "no GPU on this machine"; }();  // marks the running test skipped; SetUp returns
    return Device();
  }
  return Device(DeviceType::cuda, 0);
}

namespace {
Device g_current;
}

void ComparedDeviceTest::SetUp() { g_current = compared_device(GetParam()); }
Device current_compared_device() { return g_current; }

bool runs_cpu_kernels(Device device) {
  return device.is_cpu() || (device.is_test() && test_device_runs_cpu_kernels());
}

double device_tolerance(Device device, DType dtype) {
  if (runs_cpu_kernels(device)) return 0.0;
  switch (dtype) {
    case DType::f64: return 1e-12;
    case DType::bf16: return 1e-2;
    case DType::f16: return 1e-3;
    default: return 1e-5;
  }
}

void expect_device_matches(const Tensor& on_device, const Tensor& on_cpu, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(on_device.defined(), on_cpu.defined());
  if (!on_cpu.defined()) return;
  EXPECT_FALSE(on_device.device().is_cpu()) << "the result left the device";
  ASSERT_EQ(on_device.dtype(), on_cpu.dtype());
  ASSERT_EQ(on_device.shape(), on_cpu.shape());
  const double tol = device_tolerance(on_device.device(), on_cpu.dtype());
  const std::vector<double> got = on_device.to(Device()).to(DType::f64).to_vector<double>();
  const std::vector<double> want = on_cpu.to(DType::f64).to_vector<double>();
  for (size_t i = 0; i < want.size(); ++i) {
    const bool same_bits = std::memcmp(&got[i], &want[i], sizeof(double)) == 0;
    const bool both_nan = std::isnan(got[i]) && std::isnan(want[i]);
    if (same_bits || both_nan) continue;
    if (tol > 0 && std::abs(got[i] - want[i]) <= tol * (1.0 + std::abs(want[i]))) continue;
    ADD_FAILURE() << "element " << i << " is " << got[i] << " on " << on_device.device().str() << ", " << want[i]
                  << " on the CPU";
    return;
  }
}

}  // namespace tessera::testing
