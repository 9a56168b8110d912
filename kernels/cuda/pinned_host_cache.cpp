#include "kernels/cuda/pinned_host_cache.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <iterator>

#include "kernels/cuda/cuda_check.h"

namespace tessera::kernels::cuda {

namespace {
// Sizes are rounded to powers of two (at least 4 KiB), so blocks of batches of one shape are reused exactly.
size_t rounded(size_t nbytes) { return std::bit_ceil(std::max<size_t>(nbytes, 4096)); }
}  // namespace

std::map<const char*, PinnedHostCache::Block>::iterator PinnedHostCache::locate(const void* ptr) {
  const auto* at = static_cast<const char*>(ptr);
  auto it = blocks_.upper_bound(at);  // the first block starting after ptr; the one before may hold it
  if (it == blocks_.begin()) return blocks_.end();
  --it;
  return at < it->first + it->second.size ? it : blocks_.end();
}

PinnedHostCache::Block* PinnedHostCache::find(const void* ptr) {
  const auto it = locate(ptr);
  return it == blocks_.end() ? nullptr : &it->second;
}

bool PinnedHostCache::uses_passed(Block& block) {
  std::erase_if(block.uses, [this](cudaEvent_t event) { return events_.give_back_if_passed(event); });
  return block.uses.empty() && block.graph_holds == 0;
}

void* PinnedHostCache::allocate(size_t nbytes) {
  const size_t size = rounded(nbytes);
  {
    std::lock_guard lock(mutex_);
    auto [first, last] = cached_.equal_range(size);
    for (auto it = first; it != last; ++it) {
      Block& block = blocks_.at(it->second);
      if (!uses_passed(block)) continue;
      void* ptr = const_cast<char*>(it->second);
      cached_.erase(it);
      block.in_use = true;
      return ptr;
    }
  }
  // Outside the lock: pinning takes milliseconds for large blocks, and copies on other threads record uses meanwhile.
  void* ptr = nullptr;
  TESSERA_CUDA_CHECK(cudaHostAlloc(&ptr, size, cudaHostAllocDefault));
  std::lock_guard lock(mutex_);
  blocks_.emplace(static_cast<const char*>(ptr), Block{size, true, {}});
  return ptr;
}

// Called from tensors' destructors: reports a foreign pointer instead of throwing.
void PinnedHostCache::free(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard lock(mutex_);
  auto it = blocks_.find(static_cast<const char*>(ptr));
  if (it == blocks_.end() || !it->second.in_use) {
    std::fprintf(stderr, "tessera: free_pinned_host: %p is not pinned memory in use from this GPU's cache\n", ptr);
    return;
  }
  it->second.in_use = false;
  cached_.emplace(it->second.size, it->first);
}

bool PinnedHostCache::record_use(const void* ptr, cudaStream_t stream) {
  std::lock_guard lock(mutex_);
  Block* block = find(ptr);
  if (block == nullptr) return false;
  uses_passed(*block);  // keeps the list short for a buffer reused many times
  const cudaEvent_t event = events_.take();
  block->uses.push_back(event);
  TESSERA_CUDA_CHECK(cudaEventRecord(event, stream));
  return true;
}

bool PinnedHostCache::hold_for_graph(const void* ptr, const void* graph) {
  std::lock_guard lock(mutex_);
  const auto it = locate(ptr);
  if (it == blocks_.end()) return false;
  ++it->second.graph_holds;
  held_.emplace(graph, it->first);
  return true;
}

void PinnedHostCache::release_graph(const void* graph) {
  std::lock_guard lock(mutex_);
  auto [first, last] = held_.equal_range(graph);
  for (auto it = first; it != last; ++it) --blocks_.at(it->second).graph_holds;
  held_.erase(first, last);
}

bool PinnedHostCache::contains(const void* ptr) {
  std::lock_guard lock(mutex_);
  return find(ptr) != nullptr;
}

void PinnedHostCache::empty_cache() {
  std::lock_guard lock(mutex_);
  for (auto it = cached_.begin(); it != cached_.end();) {
    Block& block = blocks_.at(it->second);
    if (!uses_passed(block)) {
      ++it;
      continue;
    }
    TESSERA_CUDA_CHECK(cudaFreeHost(const_cast<char*>(it->second)));
    blocks_.erase(it->second);
    it = cached_.erase(it);
  }
}

}  // namespace tessera::kernels::cuda
