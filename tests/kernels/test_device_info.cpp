// The CUDA smoke test: runs a kernel on the GPU when this build has the CUDA path and the machine has a GPU;
// skips cleanly otherwise (CPU-only build, or no driver/device).
#include <gtest/gtest.h>

#include "kernels/device_info.h"

namespace tessera::kernels {
namespace {

TEST(DeviceInfo, CudaKernelRoundTripWhenAGpuIsPresent) {
  if (!cuda_compiled()) GTEST_SKIP() << "built without the CUDA path (TESSERA_CUDA=OFF or toolkit missing)";
  const int devices = cuda_device_count();
  if (devices == 0) GTEST_SKIP() << "CUDA build, but no GPU visible on this machine";
  EXPECT_TRUE(cuda_fill_roundtrip(1 << 20, 3.25f));
}

TEST(DeviceInfo, NoGpuMeansZeroDevicesNotAnError) {
  const int devices = cuda_device_count();
  EXPECT_GE(devices, 0);
  if (!cuda_compiled()) {
    EXPECT_EQ(devices, 0);
  }
}

}  // namespace
}  // namespace tessera::kernels
