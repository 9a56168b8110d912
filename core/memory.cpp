#include "core/memory.h"

#include "core/backend_of.h"

namespace tessera {

size_t memory_allocated(Device device) { return backend_of(device).memory_stats().allocated_bytes; }

size_t max_memory_allocated(Device device) { return backend_of(device).memory_stats().peak_allocated_bytes; }

size_t memory_reserved(Device device) {
  const kernels::MemoryStats stats = backend_of(device).memory_stats();
  return stats.allocated_bytes + stats.cached_bytes;
}

void reset_peak_memory_stats(Device device) { backend_of(device).reset_peak_memory_stats(); }

void empty_cache(Device device) { backend_of(device).empty_cache(); }

}  // namespace tessera
