#pragma once
// Where a CpuBackend's buffers live. The CPU's is a caching allocator over the process heap (host_memory.cpp);
// the test device's is guarded memory whose handed-out addresses the host cannot dereference
// (tests/support/test_device.cpp). Either way the backend reaches a buffer's bytes at address + host_offset().
#include <cstddef>

#include "kernels/backend.h"

namespace tessera::kernels::cpu {

class HostMemory {
 public:
  virtual ~HostMemory() = default;
  virtual void* allocate(size_t nbytes) = 0;  // 64-byte aligned; never null (throws)
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual std::ptrdiff_t host_offset() const = 0;
  virtual MemoryStats stats() const = 0;
  virtual void reset_peak() = 0;  // peak_allocated_bytes = allocated_bytes
  virtual void release_cached() = 0;
};

// The process's caching host allocator (one instance, never destroyed: storages may outlive statics). Also what
// "pinned" host memory is on a CPU-only machine.
HostMemory& caching_host_memory();

}  // namespace tessera::kernels::cpu
