#pragma once
// The caching device allocator of one GPU (PyTorch's CUDACachingAllocator scheme, much smaller): cudaMalloc and
// cudaFree synchronise the device and cost tens of microseconds, so freed blocks are kept and reused.
//
// Invariants:
//  - Sizes round up to 512 bytes (so every block is 512-byte aligned). Requests up to 1 MiB are carved from 2 MiB
//    segments (the small pool); larger ones from segments of 20 MiB (up to 10 MiB) or their own size rounded to
//    2 MiB (the large pool).
//  - A block belongs to the stream it was allocated on. A freed block is reused only by allocations on that stream,
//    whose order guarantees that the previous user's kernels ran first; no event is needed.
//  - A block that other streams use too (record_stream) waits, once freed, for an event recorded on each of them
//    at the free; the next allocation returns those whose events have passed (PyTorch's insert_events and
//    process_events). Events are kept for reuse. A graph pool's block waits for the pool's release while its
//    capture lasts (another stream of the capture may still read it); after the capture nothing allocates from the
//    pool until that release, so its uses need no event.
//  - A free block is split when the rest is worth keeping (>= 512 B small, > 1 MiB large); on free, a block merges
//    with free neighbours of its segment, so a segment whose blocks are all free becomes one block again and
//    empty_cache can give it back.
//  - Out of memory: free every cached segment, retry once, then throw naming the request, what is cached, what is
//    in use and what the device says is free.
//  - Graph pools (CUDA graph capture): while a stream captures into a pool, its allocations take blocks keyed by
//    the pool instead of the stream, so only that pool's allocations ever reuse them, during the capture or after
//    (a replay writes them again). A block from outside the pool freed during the capture may still be used by the
//    graph: its free waits until the pool is released. A side stream joined into the capture allocates in the pool
//    too, fresh blocks only, marked used by it, so they are never reused within the capture. Releasing (after the
//    graph is gone) rekeys the pool's blocks to a stream, so they join the ordinary cache.
#include <cuda_runtime.h>

#include <cstddef>
#include <deque>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/event_pool.h"

namespace tessera::kernels::cuda {

class CachingAllocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t nbytes, cudaStream_t stream);
  void deallocate(void* ptr);
  // `stream` uses the live block at `ptr` as well as the stream that allocated it (torch's record_stream).
  void record_stream(void* ptr, cudaStream_t stream);
  MemoryStats stats() const;
  void reset_peak();  // the peak starts again from what is allocated now
  void empty_cache();

  // Graph pools: `pool` is any unique non-null key (the graph's address); one capture at a time per device.
  void begin_pool(cudaStream_t stream, cudaStream_t pool);
  void end_pool();
  void release_pool(cudaStream_t pool, cudaStream_t into);  // synchronises the device first
  // A side stream about to be destroyed, synchronised by the caller: its blocks join `into`'s cache (free ones now,
  // the rest when freed) instead of waiting for a stream that will never allocate again.
  void retire_stream(cudaStream_t stream, cudaStream_t into);

  static size_t round_size(size_t nbytes);

 private:
  struct Block {
    char* ptr = nullptr;
    size_t size = 0;
    cudaStream_t stream = nullptr;
    bool small_pool = false;
    bool allocated = false;
    std::vector<cudaStream_t> uses;  // other streams that use it (record_stream), while allocated
    Block* prev = nullptr;  // neighbours within one cudaMalloc segment
    Block* next = nullptr;
  };
  struct BlockOrder {  // free blocks by (stream, size, address): lower_bound finds the best fit on a stream
    bool operator()(const Block* a, const Block* b) const;
  };
  using FreeSet = std::set<Block*, BlockOrder>;

  bool joins_capture(cudaStream_t stream) const;  // under mutex_, while a pool is being captured into
  Block* find_free(FreeSet& pool, size_t size, cudaStream_t stream);
  Block* new_segment(size_t size, cudaStream_t stream, bool small_pool);
  Block* split(Block* block, size_t size, FreeSet& pool);
  void free_block(Block* block);  // back to its free set, merged with free neighbours
  // A freed block that other streams use: an event on each of them, the block kept until all have passed.
  struct PendingFree {
    Block* block;
    std::vector<cudaEvent_t> events;
  };
  void free_after_uses(Block* block);
  void free_passed_uses();  // frees the pending blocks whose events have all passed
  void rekey(cudaStream_t from, cudaStream_t into);  // every block of `from`, free or live, now belongs to `into`
  void release_free_segments();
  [[noreturn]] void throw_out_of_memory(size_t nbytes, cudaError_t status);

  int device_;
  mutable std::mutex mutex_;
  FreeSet small_free_, large_free_;
  std::unordered_map<void*, Block*> live_;  // allocated blocks by address
  cudaStream_t capture_stream_ = nullptr, capture_pool_ = nullptr;
  std::set<cudaStream_t> pools_;                                     // graph pools not yet released
  std::unordered_map<cudaStream_t, std::vector<Block*>> deferred_;  // per pool: frees that wait for its release
  std::deque<PendingFree> pending_frees_;
  EventPool events_;  // for pending frees, reused once passed
  size_t allocated_bytes_ = 0, reserved_bytes_ = 0, peak_allocated_bytes_ = 0, allocation_count_ = 0;
};

}  // namespace tessera::kernels::cuda
