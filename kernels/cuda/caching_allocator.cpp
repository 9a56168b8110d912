#include "kernels/cuda/caching_allocator.h"

#include <algorithm>
#include <tuple>

#include "kernels/cuda/cuda_check.h"

namespace tessera::kernels::cuda {

namespace {
constexpr size_t kRound = 512;
constexpr size_t kSmallLimit = 1 << 20;          // requests up to this share 2 MiB segments
constexpr size_t kSmallSegment = 2 << 20;
constexpr size_t kMediumLimit = 10 << 20;        // requests up to this share 20 MiB segments
constexpr size_t kMediumSegment = 20 << 20;
constexpr size_t kLargeRound = 2 << 20;

std::string mib(size_t bytes) { return detail::concat(static_cast<double>(bytes) / (1 << 20), " MiB"); }
}  // namespace

size_t CachingAllocator::round_size(size_t nbytes) {
  return nbytes == 0 ? kRound : (nbytes + kRound - 1) / kRound * kRound;
}

bool CachingAllocator::BlockOrder::operator()(const Block* a, const Block* b) const {
  return std::make_tuple(reinterpret_cast<uintptr_t>(a->stream), a->size, reinterpret_cast<uintptr_t>(a->ptr)) <
         std::make_tuple(reinterpret_cast<uintptr_t>(b->stream), b->size, reinterpret_cast<uintptr_t>(b->ptr));
}

CachingAllocator::Block* CachingAllocator::find_free(FreeSet& pool, size_t size, cudaStream_t stream) {
  Block key;
  key.stream = stream;
  key.size = size;
  auto it = pool.lower_bound(&key);
  if (it == pool.end() || (*it)->stream != stream) return nullptr;
  // The smallest free block that fits; split() returns what the request does not need to the pool.
  Block* block = *it;
  pool.erase(it);
  return block;
}

CachingAllocator::Block* CachingAllocator::new_segment(size_t size, cudaStream_t stream, bool small_pool) {
  const size_t segment = small_pool               ? kSmallSegment
                         : size <= kMediumLimit   ? kMediumSegment
                                                  : (size + kLargeRound - 1) / kLargeRound * kLargeRound;
  void* ptr = nullptr;
  cudaError_t status = cudaMalloc(&ptr, segment);
  if (status != cudaSuccess) {
    cudaGetLastError();
    if (capture_pool_ == nullptr) {  // a capture forbids the retry's device sync and frees
      release_free_segments();
      status = cudaMalloc(&ptr, segment);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      throw_out_of_memory(size, status);
    }
  }
  reserved_bytes_ += segment;
  auto* block = new Block;
  block->ptr = static_cast<char*>(ptr);
  block->size = segment;
  block->stream = stream;
  block->small_pool = small_pool;
  return block;
}

// Keeps the first `size` bytes of a free block, returns them, and puts the rest back into the pool.
CachingAllocator::Block* CachingAllocator::split(Block* block, size_t size, FreeSet& pool) {
  const size_t rest = block->size - size;
  const bool worth_it = block->small_pool ? rest >= kRound : rest > kSmallLimit;
  if (!worth_it) return block;
  auto* remainder = new Block(*block);
  remainder->ptr = block->ptr + size;
  remainder->size = rest;
  remainder->prev = block;
  remainder->next = block->next;
  if (block->next) block->next->prev = remainder;
  block->next = remainder;
  block->size = size;
  pool.insert(remainder);
  return block;
}

// The captured stream, or a stream the capture forked onto (it waited for an event recorded in the capture): its
// blocks are the graph's too, rewritten by every replay (PyTorch picks its private pool by capture id too, and keys
// blocks by stream inside it, as allocate keeps a joined stream's blocks apart).
bool CachingAllocator::joins_capture(cudaStream_t stream) const {
  if (stream == capture_stream_) return true;
  cudaStreamCaptureStatus mine = cudaStreamCaptureStatusNone, theirs = cudaStreamCaptureStatusNone;
  unsigned long long my_id = 0, their_id = 0;
  if (cudaStreamGetCaptureInfo(stream, &mine, &my_id) != cudaSuccess ||
      cudaStreamGetCaptureInfo(capture_stream_, &theirs, &their_id) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return mine == cudaStreamCaptureStatusActive && theirs == cudaStreamCaptureStatusActive && my_id == their_id;
}

void* CachingAllocator::allocate(size_t nbytes, cudaStream_t stream) {
  const size_t size = round_size(nbytes);
  const bool small_pool = size <= kSmallLimit;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!pending_frees_.empty()) free_passed_uses();
  const cudaStream_t asked = stream;
  // A side stream joined into the capture allocates in the graph's pool too, but never a block freed there: the
  // captured stream's earlier use of it has no edge to the side stream's work in the graph. And its blocks are
  // marked used by it, so their frees wait for the pool's release (deallocate), not reused by the captured stream.
  const bool joined = capture_pool_ != nullptr && stream != capture_stream_ && joins_capture(stream);
  if (capture_pool_ != nullptr && (joined || stream == capture_stream_)) stream = capture_pool_;
  FreeSet& pool = small_pool ? small_free_ : large_free_;
  Block* block = joined ? nullptr : find_free(pool, size, stream);
  if (block == nullptr) block = new_segment(size, stream, small_pool);
  block = split(block, size, pool);
  block->allocated = true;
  if (joined) block->uses.push_back(asked);
  live_.emplace(block->ptr, block);
  allocated_bytes_ += block->size;
  if (allocated_bytes_ > peak_allocated_bytes_) peak_allocated_bytes_ = allocated_bytes_;
  ++allocation_count_;
  return block->ptr;
}

void CachingAllocator::deallocate(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  TESSERA_CHECK(it != live_.end(), "CUDA caching allocator (device ", device_, "): free of ", ptr,
                ", which it did not allocate");
  Block* block = it->second;
  live_.erase(it);
  // While capturing, a block outside the capture's own pool (ordinary, or another graph's) may still be used by
  // the captured work: its free waits for this pool's release.
  if (capture_pool_ != nullptr && block->stream != capture_pool_) {
    deferred_[capture_pool_].push_back(block);  // still in use by the graph being captured, maybe
    return;
  }
  if (!block->uses.empty()) {
    // A graph pool's block used by another stream of the capture: reused in the capture, it could be written
    // while that stream's captured work still reads it, so it waits for the pool's release. After the capture
    // nothing allocates from the pool until then: such uses need no event.
    if (block->stream == capture_pool_) {
      deferred_[capture_pool_].push_back(block);
      return;
    }
    if (pools_.count(block->stream) == 0) return free_after_uses(block);
  }
  free_block(block);
}

void CachingAllocator::record_stream(void* ptr, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  TESSERA_CHECK(it != live_.end(), "CUDA caching allocator (device ", device_, "): record_stream of ", ptr,
                ", which is not a block it allocated and has not freed");
  Block* block = it->second;
  if (stream != block->stream && std::find(block->uses.begin(), block->uses.end(), stream) == block->uses.end())
    block->uses.push_back(stream);
}

// On this allocator's GPU whatever the calling thread's current device (its events must belong to the GPU of the
// streams they are recorded on), restored after. Never throws (a free runs in a destructor): if an event cannot be
// had or recorded, the host waits for the using streams and frees the block at once.
void CachingAllocator::free_after_uses(Block* block) {
  int previous = device_;
  discard_cuda_error(cudaGetDevice(&previous));
  if (previous != device_) discard_cuda_error(cudaSetDevice(device_));
  const std::vector<cudaStream_t> uses = std::exchange(block->uses, {});
  PendingFree pending{block, {}};
  try {
    for (cudaStream_t stream : uses) {
      pending.events.push_back(events_.take());
      TESSERA_CUDA_CHECK(cudaEventRecord(pending.events.back(), stream));
    }
    pending_frees_.push_back(std::move(pending));
  } catch (const std::exception&) {
    for (cudaStream_t stream : uses) discard_cuda_error(cudaStreamSynchronize(stream));
    for (cudaEvent_t event : pending.events) events_.give_back(event);
    free_block(block);
  }
  if (previous != device_) discard_cuda_error(cudaSetDevice(previous));
}

void CachingAllocator::free_passed_uses() {
  for (auto it = pending_frees_.begin(); it != pending_frees_.end();) {
    std::erase_if(it->events, [this](cudaEvent_t event) { return events_.give_back_if_passed(event); });
    if (!it->events.empty()) {
      ++it;
      continue;
    }
    free_block(it->block);
    it = pending_frees_.erase(it);
  }
}

void CachingAllocator::free_block(Block* block) {
  allocated_bytes_ -= block->size;
  block->allocated = false;
  block->uses.clear();  // a graph's deferred free: the device was synchronised
  FreeSet& pool = block->small_pool ? small_free_ : large_free_;
  // Merge with free neighbours of the same segment.
  for (Block* neighbour : {block->prev, block->next}) {
    if (neighbour == nullptr || neighbour->allocated) continue;
    pool.erase(neighbour);
    if (neighbour == block->prev) {
      neighbour->size += block->size;
      neighbour->next = block->next;
      if (block->next) block->next->prev = neighbour;
      delete block;
      block = neighbour;
    } else {
      block->size += neighbour->size;
      block->next = neighbour->next;
      if (neighbour->next) neighbour->next->prev = block;
      delete neighbour;
    }
  }
  pool.insert(block);
}

void CachingAllocator::begin_pool(cudaStream_t stream, cudaStream_t pool) {
  std::lock_guard<std::mutex> lock(mutex_);
  TESSERA_CHECK(capture_pool_ == nullptr, "CUDA caching allocator (device ", device_,
                "): a graph capture is already under way on this device; capture one graph at a time");
  capture_stream_ = stream;
  capture_pool_ = pool;
  pools_.insert(pool);
}

void CachingAllocator::end_pool() {
  std::lock_guard<std::mutex> lock(mutex_);
  capture_stream_ = capture_pool_ = nullptr;
}

void CachingAllocator::rekey(cudaStream_t from, cudaStream_t into) {
  for (FreeSet* free_set : {&small_free_, &large_free_}) {
    std::vector<Block*> rekeyed;
    for (auto it = free_set->begin(); it != free_set->end();) {
      if ((*it)->stream == from) {
        rekeyed.push_back(*it);
        it = free_set->erase(it);
      } else {
        ++it;
      }
    }
    for (Block* block : rekeyed) {
      block->stream = into;
      free_set->insert(block);
    }
  }
  for (auto& [ptr, block] : live_)
    if (block->stream == from) block->stream = into;  // freed later, it joins into's cache
  for (PendingFree& pending : pending_frees_)
    if (pending.block->stream == from) pending.block->stream = into;
  for (auto& [pool, blocks] : deferred_)
    for (Block* block : blocks)
      if (block->stream == from) block->stream = into;
}

// The caller synchronised `stream`: what it queued has run, so live blocks need not wait for it when freed.
void CachingAllocator::retire_stream(cudaStream_t stream, cudaStream_t into) {
  std::lock_guard<std::mutex> lock(mutex_);
  rekey(stream, into);
  for (auto& [ptr, block] : live_)
    std::erase_if(block->uses, [&](cudaStream_t use) { return use == stream || use == block->stream; });
}

namespace {
// Waits for all of the device's work. False (the error cleared) when the device cannot be synchronised (a stream of
// it captures, or a fault): nothing is known to have finished, so nothing may be freed on that basis (a leak, not a
// reuse race).
bool device_synchronized() {
  const cudaError_t status = cudaDeviceSynchronize();
  discard_cuda_error(status);
  return status == cudaSuccess;
}
}  // namespace

void CachingAllocator::release_pool(cudaStream_t pool, cudaStream_t into) {
  if (!device_synchronized()) return;  // the graph's last replay may still run: keep the pool and its deferred frees
  std::lock_guard<std::mutex> lock(mutex_);
  rekey(pool, into);
  pools_.erase(pool);
  auto deferred = deferred_.find(pool);
  if (deferred == deferred_.end()) return;
  for (Block* block : deferred->second) free_block(block);
  deferred_.erase(deferred);
}

void CachingAllocator::release_free_segments() {
  // Kernels queued before their blocks were freed may still use them, on any stream: the out-of-memory retry
  // needs this as much as empty_cache (do not rely on cudaFree synchronising implicitly).
  if (!device_synchronized()) return;
  free_passed_uses();  // all of them, after the sync
  for (FreeSet* pool : {&small_free_, &large_free_}) {
    for (auto it = pool->begin(); it != pool->end();) {
      Block* block = *it;
      // A whole segment, free, and not a graph's (its replays write there).
      if (block->prev == nullptr && block->next == nullptr && pools_.count(block->stream) == 0) {
        discard_cuda_error(cudaFree(block->ptr));
        reserved_bytes_ -= block->size;
        delete block;
        it = pool->erase(it);
      } else {
        ++it;
      }
    }
  }
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_free_segments();  // synchronises the device first
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  MemoryStats stats;
  stats.allocated_bytes = allocated_bytes_;
  stats.cached_bytes = reserved_bytes_ - allocated_bytes_;
  stats.peak_allocated_bytes = peak_allocated_bytes_;
  stats.allocation_count = allocation_count_;
  return stats;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  peak_allocated_bytes_ = allocated_bytes_;
}

void CachingAllocator::throw_out_of_memory(size_t nbytes, cudaError_t status) {
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  cudaGetLastError();
  TESSERA_THROW("CUDA out of memory on cuda:", device_, ": tried to allocate ", mib(nbytes), "; ", mib(allocated_bytes_),
                " in use by tensors, ", mib(reserved_bytes_ - allocated_bytes_), " cached by Tessera, ", mib(free_bytes),
                " free of ", mib(total_bytes), " on the device (", cudaGetErrorString(status), ")");
}

}  // namespace tessera::kernels::cuda
