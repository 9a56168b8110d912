// The CUDA backend's own machinery, through the Backend interface: the caching allocator (reuse, split and merge,
// statistics, empty_cache, the out-of-memory report), copies, events, and device-side index checks. On a machine
// without a GPU only the "asked for a GPU it cannot get" behaviour runs, and the rest skips or runs on the CUDA
// backend compiled for the CPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/backend.h"
#include "kernels/device_info.h"
#include "tests/support/cuda_on_cpu/cuda_on_cpu.h"
#include "tests/support/expect_error.h"
#include "tests/support/test_device.h"

namespace tessera::kernels {
namespace {

// cuda:0, or under TESSERA_TEST_DEVICE_BACKEND=cuda_on_cpu (kernels.CudaBackendTest.cuda_on_cpu) the CUDA backend
// compiled for the CPU (tests/support/cuda_on_cpu/README.md), so CI runs these too.
class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tessera::testing::test_device_runs_cpu_kernels()) {
      backend_ = &tessera::testing::cuda_on_cpu_backend(cpu_backend());
    } else {
      if (cuda_device_count() == 0) GTEST_SKIP() << "no GPU on this machine";
      backend_ = &cuda_backend(0);
    }
    backend_->synchronize();
  }
  Backend* backend_ = nullptr;
};

TEST(CudaBackendWithoutGpu, AskingForAMissingGpuIsAClearError) {
  const int devices = cuda_device_count();
  testing::expect_error([&] { cuda_backend(devices); }, {"cuda:" + std::to_string(devices), "requested"});
  testing::expect_error([&] { cuda_backend(-1); }, {"cuda:-1", "requested"});
}

TEST_F(CudaBackendTest, NameAndRoundTripThroughDeviceMemory) {
  EXPECT_STREQ(backend_->name(), "cuda:0");
  std::vector<float> host(1000), back(1000, -1.0f);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i) * 0.5f;
  void* a = backend_->allocate(host.size() * sizeof(float));
  void* b = backend_->allocate(host.size() * sizeof(float));
  backend_->copy_from_host(a, host.data(), host.size() * sizeof(float));
  backend_->copy(b, a, host.size() * sizeof(float));
  backend_->copy_to_host(back.data(), b, back.size() * sizeof(float));
  EXPECT_EQ(back, host);
  backend_->memset_zero(b, back.size() * sizeof(float));
  backend_->copy_to_host(back.data(), b, back.size() * sizeof(float));
  EXPECT_EQ(back, std::vector<float>(1000, 0.0f));
  backend_->deallocate(a, host.size() * sizeof(float));
  backend_->deallocate(b, host.size() * sizeof(float));
}

TEST_F(CudaBackendTest, FreedBlocksAreReusedAndCounted) {
  const MemoryStats before = backend_->memory_stats();
  void* first = backend_->allocate(3000);
  const MemoryStats during = backend_->memory_stats();
  EXPECT_EQ(during.allocated_bytes, before.allocated_bytes + 3072);  // rounded to 512 bytes
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 512, 0u);
  backend_->deallocate(first, 3000);
  void* again = backend_->allocate(2900);  // same size class on the same stream: the same block
  EXPECT_EQ(again, first);
  backend_->deallocate(again, 2900);
  EXPECT_EQ(backend_->memory_stats().allocated_bytes, before.allocated_bytes);
  EXPECT_GE(backend_->memory_stats().peak_allocated_bytes, during.allocated_bytes);
}

TEST_F(CudaBackendTest, SplitBlocksMergeBackAndEmptyCacheReturnsWholeSegments) {
  backend_->empty_cache();
  const MemoryStats start = backend_->memory_stats();
  EXPECT_EQ(start.cached_bytes, 0u);
  std::vector<void*> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(backend_->allocate(100 << 10));  // eight 100 KiB from one segment
  for (int i = 1; i < 8; ++i) EXPECT_EQ(static_cast<char*>(blocks[i]) - static_cast<char*>(blocks[i - 1]), 100 << 10);
  for (void* b : blocks) backend_->deallocate(b, 100 << 10);
  EXPECT_EQ(backend_->memory_stats().allocated_bytes, start.allocated_bytes);
  EXPECT_EQ(backend_->memory_stats().cached_bytes, size_t{2} << 20);  // merged back into one free 2 MiB segment
  void* whole = backend_->allocate(1 << 20);  // fits in the merged segment: no new cudaMalloc
  EXPECT_EQ(whole, blocks[0]);
  backend_->deallocate(whole, 1 << 20);
  backend_->empty_cache();
  EXPECT_EQ(backend_->memory_stats().cached_bytes, 0u);
}

TEST_F(CudaBackendTest, OutOfMemoryNamesRequestCachedUsedAndFree) {
  const size_t huge = size_t{1} << 50;  // 1 PiB
  testing::expect_error([&] { backend_->allocate(huge); },
                        {"CUDA out of memory on cuda:0", "tried to allocate", "in use", "cached", "free"});
  void* ok = backend_->allocate(1024);  // the allocator still works afterwards
  backend_->deallocate(ok, 1024);
}

TEST_F(CudaBackendTest, EventsOrderTheStreamAndTheHost) {
  EventHandle event = backend_->create_event();
  std::vector<int64_t> host(1 << 20, 7), back(1 << 20);
  void* d = backend_->allocate(host.size() * sizeof(int64_t));
  backend_->copy_from_host(d, host.data(), host.size() * sizeof(int64_t));
  backend_->record_event(event);
  backend_->wait_event(event);
  backend_->synchronize_event(event);
  backend_->copy_to_host(back.data(), d, back.size() * sizeof(int64_t));
  EXPECT_EQ(back, host);
  backend_->deallocate(d, host.size() * sizeof(int64_t));
  backend_->destroy_event(event);
}

TEST_F(CudaBackendTest, BadIndexIsRaisedAtTheNextSynchronisation) {
  const std::vector<int64_t> index = {0, 2, 9, 1, 12};
  void* x = backend_->allocate(3 * 4 * sizeof(float));
  void* out = backend_->allocate(3 * index.size() * sizeof(float));
  void* idx = backend_->allocate(index.size() * sizeof(int64_t));
  backend_->memset_zero(x, 3 * 4 * sizeof(float));
  backend_->copy_from_host(idx, index.data(), index.size() * sizeof(int64_t));
  const IndexBounds bounds{.size = 4, .op = "index_select", .what = "index", .context = "dimension 1 with size 4"};
  backend_->index_select(DType::f32, RowLayout{3, 4, 1}, out, x, idx, static_cast<int64_t>(index.size()), bounds);
  testing::expect_error([&] { backend_->synchronize(); },
                        {"index_select: index 9 (at position 2) is out of range for dimension 1 with size 4"});
  backend_->synchronize();  // reported once: the slot is rearmed
  for (void* p : {x, out, idx}) backend_->deallocate(p, 0);
}

}  // namespace
}  // namespace tessera::kernels
