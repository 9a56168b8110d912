#pragma once
// CUDA events kept for reuse once passed, for the caches that mark a block's last use with an event (the caching
// allocator's record_stream frees, the pinned cache's copies): creating and destroying one per use costs the host
// two driver calls. Not thread-safe (its owner's mutex covers it); events are never destroyed, since the owners live
// as long as the process.
#include <cuda_runtime.h>

#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace tessera::kernels::cuda {

class EventPool {
 public:
  // A spare event, or a new one (no timing), on the calling thread's current device.
  cudaEvent_t take() {
    if (spare_.empty()) {
      cudaEvent_t event = nullptr;
      TESSERA_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
      return event;
    }
    const cudaEvent_t event = spare_.back();
    spare_.pop_back();
    return event;
  }
  void give_back(cudaEvent_t event) { spare_.push_back(event); }
  // Whether `event` has passed, and then it is back in the pool; false while pending. Throws on a CUDA error.
  bool give_back_if_passed(cudaEvent_t event) {
    const cudaError_t status = cudaEventQuery(event);
    if (cuda_still_pending(status)) return false;
    TESSERA_CUDA_CHECK(status);
    give_back(event);
    return true;
  }

 private:
  std::vector<cudaEvent_t> spare_;
};

}  // namespace tessera::kernels::cuda
