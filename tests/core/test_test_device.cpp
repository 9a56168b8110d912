// The guarded test device: its memory is reachable only through the backend. A host read through data_ptr is a
// clear error; a raw dereference of a device address dies with a message naming it (the guard CI relies on to
// prove ops free of hidden host access); copies, fills and elementwise ops keep tensors on their device.
#include <gtest/gtest.h>

#include "core/backend_of.h"
#include "tests/support/test_device.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

const Device kCpu{};

Device test_device() { return testing::install_test_device(); }

TEST(TestDevice, DataPtrOnTheHostIsAnErrorNamingTheDevice) {
  Tensor t = zeros({4}, {.device = test_device()});
  expect_error([&] { (void)t.data_ptr<float>(); }, {"data_ptr()", "test:0", "[4]", "to(\"cpu\")"});
  EXPECT_TRUE(testing::is_test_device_address(t.raw_data()));
}

TEST(TestDevice, RawDereferenceDiesNamingTheAddress) {
  Tensor t = zeros({4}, {.device = test_device()});
  const float* device_address = static_cast<const float*>(t.raw_data());
  EXPECT_DEATH({ volatile float v = *device_address; (void)v; }, "host access to test-device memory");
}

TEST(TestDevice, CopiesRoundTripAndKeepDevices) {
  const Tensor host = tensor<float>({1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f}, {2, 3});
  const Tensor on_device = host.to(test_device());
  EXPECT_EQ(on_device.device(), test_device());
  EXPECT_EQ(on_device.to_vector<float>(), host.to_vector<float>());
  EXPECT_EQ(on_device.transpose(0, 1).contiguous().device(), test_device());
  EXPECT_EQ(on_device.transpose(0, 1).to(kCpu).to_vector<float>(), host.transpose(0, 1).to_vector<float>());
  EXPECT_EQ(on_device.select(0, 0).select(0, 2).item<float>(), 3.25f);
  EXPECT_EQ(on_device.to(DType::f64).device(), test_device());
  EXPECT_EQ(on_device.clone().to_vector<float>(), host.to_vector<float>());
  EXPECT_EQ(zeros_like(on_device).device(), test_device());
}

TEST(TestDevice, OpsRunOnTheDeviceOfTheirInputs) {
  const Tensor a = tensor<float>({1, 2, 3, 4}, {2, 2}).to(test_device());
  const Tensor b = tensor<float>({10, 20}).to(test_device());
  const Tensor sum = a + b;
  EXPECT_EQ(sum.device(), test_device());
  EXPECT_EQ(sum.to_vector<float>(), (std::vector<float>{11, 22, 13, 24}));
  EXPECT_EQ((a * 2.0).to_vector<float>(), (std::vector<float>{2, 4, 6, 8}));
  EXPECT_EQ(gt(a, 2.5).to_vector<bool>(), (std::vector<bool>{false, false, true, true}));
  Tensor c = a.clone();
  c.fill_(3.0);
  c.add_(b, 0.5);
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{8, 13, 8, 13}));
}

TEST(TestDevice, MixingDevicesIsAnErrorNamingTheOpAndBothDevices) {
  const Tensor a = ones({3}, {.device = kCpu});
  const Tensor b = ones({3}, {.device = test_device()});
  expect_error([&] { (void)(a + b); }, {"add", "cpu", "test:0"});
  expect_error([&] { (void)where(gt(a, 0.0), a, b); }, {"where", "cpu", "test:0"});
}

TEST(TestDevice, GradientsFlowBackToTheDevice) {
  Tensor x = tensor<float>({-1.0f, 0.5f, 2.0f}).to(test_device()).requires_grad_();
  Tensor y = (relu(x) * x).to(kCpu);
  y.backward(ones({3}, {.device = kCpu}));
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().device(), test_device());
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{0.0f, 1.0f, 4.0f}));
}

TEST(TestDevice, MemoryComesFromTheBackendAndReturnsToIt) {
  kernels::Backend& backend = backend_of(test_device());
  const size_t before = backend.memory_stats().allocated_bytes;
  {
    const Tensor t = empty({1024}, {.device = test_device()});
    EXPECT_GE(backend.memory_stats().allocated_bytes, before + 4096);
  }
  EXPECT_EQ(backend.memory_stats().allocated_bytes, before);
}

}  // namespace
}  // namespace tessera
