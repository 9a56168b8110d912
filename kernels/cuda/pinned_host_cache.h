#pragma once
// Pinned (page-locked) host memory of one GPU, cached as PyTorch's CachingHostAllocator does: cudaHostAlloc is slow
// and cudaFreeHost waits for the whole device, so a freed block is kept and handed out again.
//
// Invariant: a block is handed out again only after every asynchronous copy that read or wrote it has passed. A
// tensor over pinned memory may be freed while its copy is still queued (x_pinned.to(device, non_blocking) and
// then x_pinned dropped, as a loader does each batch); each async copy therefore records an event on its stream
// against the block (record_use), and a cached block whose events have not all passed is not reused.
#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

#include "kernels/cuda/event_pool.h"

namespace tessera::kernels::cuda {

class PinnedHostCache {
 public:
  void* allocate(size_t nbytes);
  void free(void* ptr);
  // An async copy queued on `stream` reads or writes pinned memory at `ptr` (which may lie inside a block: a view).
  // Returns false, recording nothing, when `ptr` is not pinned memory of this cache.
  bool record_use(const void* ptr, cudaStream_t stream);
  bool contains(const void* ptr);
  void empty_cache();  // gives back cached blocks whose uses have passed

 private:
  struct Block {
    size_t size = 0;
    bool in_use = false;
    std::vector<cudaEvent_t> uses;  // events after async copies of it, not known to have passed
  };
  Block* find(const void* ptr);      // the block holding ptr, or null (under mutex_)
  bool uses_passed(Block& block);  // drops passed events (kept for reuse); true when none is left

  std::mutex mutex_;
  std::map<const char*, Block> blocks_;          // start -> block, in use or cached
  EventPool events_;                             // for the blocks' uses, reused once passed
  std::multimap<size_t, const char*> cached_;    // size -> start of a cached block
};

}  // namespace tessera::kernels::cuda
