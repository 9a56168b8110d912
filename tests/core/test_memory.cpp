// core/memory.h, as torch.cuda's memory functions: what tensors hold, the peak, what the caching allocator keeps
// after a free, and empty_cache giving a wholly free block back. On every device: the CPU and CUDA backends cache
// freed blocks; the test device's guarded memory caches nothing.
#include <gtest/gtest.h>

#include "core/memory.h"
#include "tests/support/test_device.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

TEST(Memory, AllocatedFollowsTensorsAndReservedKeepsFreedBlocksUntilEmptyCache) {
  const Device device = default_device();
  constexpr size_t kBytes = size_t{64} << 20;  // a block of its own on every allocator
  const size_t before = memory_allocated(device);
  {
    Tensor t = empty({static_cast<int64_t>(kBytes / sizeof(float))}, {.dtype = DType::f32, .device = device});
    t.fill_(1.0);
    EXPECT_GE(memory_allocated(device), before + kBytes);
    EXPECT_GE(max_memory_allocated(device), before + kBytes);
    EXPECT_GE(memory_reserved(device), memory_allocated(device));
  }
  EXPECT_EQ(memory_allocated(device), before) << "the tensor's memory went back";
  EXPECT_GE(max_memory_allocated(device), before + kBytes) << "the peak stays";
  const size_t reserved = memory_reserved(device);
  if (device.is_test() && testing::test_device_runs_cpu_kernels()) {
    // The guarded test memory hands freed blocks back to its arena at once: nothing is cached.
    EXPECT_EQ(reserved, memory_allocated(device));
  } else {
    EXPECT_GE(reserved, before + kBytes) << "the freed block is cached for reuse";
    empty_cache(device);
    EXPECT_LE(memory_reserved(device) + kBytes, reserved) << "empty_cache gave the block back";
  }
  EXPECT_EQ(memory_allocated(device), before);
}

TEST(Memory, ResetPeakStartsThePeakAgainFromWhatIsAllocated) {
  const Device device = default_device();
  constexpr int64_t kBig = (int64_t{64} << 20) / sizeof(float), kSmall = kBig / 16;
  const size_t before = memory_allocated(device);
  { Tensor big = zeros({kBig}, {.dtype = DType::f32, .device = device}); }
  EXPECT_GE(max_memory_allocated(device), before + kBig * sizeof(float));
  reset_peak_memory_stats(device);
  EXPECT_EQ(max_memory_allocated(device), memory_allocated(device)) << "the peak starts at what is allocated now";
  Tensor small = zeros({kSmall}, {.dtype = DType::f32, .device = device});
  const size_t with_small = memory_allocated(device);
  EXPECT_GE(with_small, before + kSmall * sizeof(float));
  EXPECT_EQ(max_memory_allocated(device), with_small) << "the peak since the reset, not the big tensor's";
}

}  // namespace
}  // namespace tessera
