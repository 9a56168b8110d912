#pragma once
// Multi-tensor launches, as PyTorch's multi_tensor_apply: one kernel visits the elements of many tensors (an
// optimizer step over every parameter, GradScaler's unscale over every gradient). Invariants:
//  - the host packs up to kSlotsPerLaunch slots (device pointers, numel, per-slot scalars) with the prefix sums of
//    their tiles into a struct passed by value as a kernel parameter (static_assert: within the 4 KB every CUDA
//    version accepts), so a step over all parameters of a model is usually one launch, with no host-to-device copy;
//  - each block walks tiles of kTile elements, a tile belonging to one slot; a rule updates its elements
//    independently of the launch shape.
#include <algorithm>
#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace tessera::kernels::cuda {

constexpr int kSlotsPerLaunch = 32;
constexpr int64_t kTile = 2048;  // elements per block visit: 8 per thread

struct DeviceSlot {
  void* param;
  const void* grad;
  void* state[3];
  int64_t numel;
  double step_size;
  double bias_correction2_sqrt;
  void* low_precision;  // the parameter's bf16/f16 copy, rewritten after the update; or null
  int64_t* step;        // the parameter's step count on the device (OptimizerSlot::step), or null
  bool first_step;
  bool low_precision_bf16;
};

struct SlotChunk {
  DeviceSlot slots[kSlotsPerLaunch];
  int64_t tile_start[kSlotsPerLaunch + 1];  // slot s owns tiles [tile_start[s], tile_start[s + 1])
  int count;
};
// Kernel parameters: 4 KB before CUDA 12.1 (32 KB since on sm_70+); the rules' scalars take the rest.
static_assert(sizeof(SlotChunk) + 128 <= 4096, "a slot chunk must fit the kernel parameter space");

// Applies `rule` to every tile of the chunk's slots: rule(slot, begin, end) updates elements [begin, end).
template <typename Rule>
__global__ void __launch_bounds__(kBlockSize) multi_tensor_kernel(SlotChunk chunk, Rule rule) {
  const int64_t tiles = chunk.tile_start[chunk.count];
  int s = 0;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    while (chunk.tile_start[s + 1] <= t) ++s;  // t only grows, so the scan resumes where it stopped
    const DeviceSlot& slot = chunk.slots[s];
    const int64_t begin = (t - chunk.tile_start[s]) * kTile;
    rule(slot, begin, slot.numel < begin + kTile ? slot.numel : begin + kTile);
  }
}

// Launches `rule` over every slot with elements, kSlotsPerLaunch slots per launch.
template <typename Rule>
void for_each_chunk(const OptimizerSlot* slots, size_t count, cudaStream_t stream, const Rule& rule) {
  SlotChunk chunk{};
  auto launch = [&] {
    const int64_t tiles = chunk.tile_start[chunk.count];
    if (tiles > 0) {
      const auto blocks = static_cast<unsigned>(std::min<int64_t>(tiles, kMaxGridBlocks));
      multi_tensor_kernel<Rule><<<blocks, kBlockSize, 0, stream>>>(chunk, rule);
      TESSERA_CUDA_CHECK_LAUNCH(multi_tensor_kernel);
    }
    chunk.count = 0;
  };
  for (size_t i = 0; i < count; ++i) {
    const OptimizerSlot& from = slots[i];
    if (from.numel <= 0) continue;
    DeviceSlot& to = chunk.slots[chunk.count];
    to.param = from.param;
    to.grad = from.grad;
    std::copy(from.state, from.state + 3, to.state);
    to.numel = from.numel;
    to.step_size = from.step_size;
    to.bias_correction2_sqrt = from.bias_correction2_sqrt;
    to.first_step = from.first_step;
    to.low_precision = from.low_precision;
    to.step = from.step;
    to.low_precision_bf16 = from.low_precision_dtype == DType::bf16;
    chunk.tile_start[chunk.count + 1] = chunk.tile_start[chunk.count] + (from.numel + kTile - 1) / kTile;
    if (++chunk.count == kSlotsPerLaunch) launch();
  }
  if (chunk.count > 0) launch();
}

}  // namespace tessera::kernels::cuda
