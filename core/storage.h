#pragma once
// A reference-counted block of bytes on one device, allocated and freed through that device's backend (so the
// bytes may not be readable by the host: see kernels/backend.h). Views of a tensor share one Storage, and so share
// its version counter: every in-place write bumps it, and autograd compares it against the version it saw when
// it saved a tensor.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/device.h"

namespace tessera {

namespace kernels {
class Backend;
}

// Host memory page-locked for `accelerator` (its backend's allocate_pinned_host): a CPU tensor that device copies
// read and write fastest, and asynchronously (Tensor::to(device, non_blocking)).
struct PinnedFor {
  Device accelerator;
};

class Storage {
 public:
  Storage(size_t nbytes, Device device);  // uninitialised, 64-byte aligned
  Storage(size_t nbytes, PinnedFor pinned);  // on the CPU, uninitialised
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  kernels::Backend& backend() const { return *backend_; }
  bool pinned() const { return pinned_by_ != nullptr; }

  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  kernels::Backend* backend_ = nullptr;
  kernels::Backend* pinned_by_ = nullptr;  // the accelerator's backend, which frees pinned memory
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  std::atomic<uint32_t> version_{0};
};

}  // namespace tessera
