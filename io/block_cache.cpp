#include "io/block_cache.h"

namespace tessera::io {

const char* BlockCache::get(uint64_t key, size_t bytes, const std::function<void(char*)>& load) {
  if (auto it = index_.find(key); it != index_.end()) {
    blocks_.splice(blocks_.begin(), blocks_, it->second);
    return it->second->data.data();
  }
  while (!blocks_.empty() && used_ + bytes > capacity_) {
    used_ -= blocks_.back().data.size();
    index_.erase(blocks_.back().key);
    blocks_.pop_back();
  }
  Block block{key, std::vector<char>(bytes)};
  load(block.data.data());  // may throw: nothing is inserted then
  blocks_.push_front(std::move(block));
  index_[key] = blocks_.begin();
  used_ += bytes;
  return blocks_.front().data.data();
}

}  // namespace tessera::io
