#pragma once
// Pinned (page-locked) host memory of one GPU, cached as PyTorch's CachingHostAllocator does: cudaHostAlloc is slow
// and cudaFreeHost waits for the whole device, so a freed block is kept and handed out again.
//
// Invariant: a block is handed out again only after every asynchronous copy that read or wrote it has passed. A
// tensor over pinned memory may be freed while its copy is still queued (x_pinned.to(device, non_blocking) and
// then x_pinned dropped, as a loader does each batch); each async copy therefore records an event on its stream
// against the block (record_use), and a cached block whose events have not all passed is not reused. A copy
// captured into a CUDA graph runs again at every replay, where no event can follow it: the graph holds the block
// (hold_for_graph) until it is destroyed, and a held block is neither reused nor given back.
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
  // A copy captured into `graph` reads or writes pinned memory at `ptr`; false (nothing held) for a foreign pointer.
  bool hold_for_graph(const void* ptr, const void* graph);
  void release_graph(const void* graph);  // after the graph's last replay has run
  void empty_cache();  // gives back cached blocks whose uses have passed

 private:
  struct Block {
    size_t size = 0;
    bool in_use = false;
    std::vector<cudaEvent_t> uses;  // events after async copies of it, not known to have passed
    int graph_holds = 0;             // captured copies of it, in graphs not yet destroyed
  };
  std::map<const char*, Block>::iterator locate(const void* ptr);  // the block holding ptr, or end() (under mutex_)
  Block* find(const void* ptr);                                    // the same, or null
  bool uses_passed(Block& block);  // drops passed events (kept for reuse); true when none is left and no graph holds it

  std::mutex mutex_;
  std::map<const char*, Block> blocks_;          // start -> block, in use or cached
  EventPool events_;                             // for the blocks' uses, reused once passed
  std::multimap<size_t, const char*> cached_;    // size -> start of a cached block
  std::multimap<const void*, const char*> held_;  // graph -> start of a block one of its copies uses
};

}  // namespace tessera::kernels::cuda
