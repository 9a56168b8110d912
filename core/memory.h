#pragma once
// A device's memory as torch.cuda's memory functions report it, for any device: each backend's caching allocator
// keeps freed blocks for reuse, so what tensors hold (allocated) and what the allocator holds (reserved: allocated
// plus cached) differ. Frees still queued behind device work (another stream's use, record_stream) count as
// allocated until they are done, as in PyTorch.
#include <cstddef>

#include "core/device.h"

namespace tessera {

size_t memory_allocated(Device device = default_device());      // bytes in tensors now
size_t max_memory_allocated(Device device = default_device());  // the most memory_allocated has been since the
                                                                // start or the last reset_peak_memory_stats
// max_memory_allocated starts again from memory_allocated now (torch.cuda.reset_peak_memory_stats): the peak of
// one phase (an epoch, a step) alone.
void reset_peak_memory_stats(Device device = default_device());
size_t memory_reserved(Device device = default_device());       // in tensors or cached for reuse
// Gives the cached blocks that are wholly free back to the system (torch.cuda.empty_cache): other processes, and
// allocations of other sizes, can then use them. Tensors are untouched.
void empty_cache(Device device = default_device());

}  // namespace tessera
