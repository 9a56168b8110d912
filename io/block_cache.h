#pragma once
// BlockCache: recently read blocks of rows, least recently used first out, bounded in bytes.
// Why: HDF5 costs one H5Dread per run of consecutive rows (an OR-ed selection of many runs is mapped onto chunks
// element by element in HDF5 1.10, slower still), so a shuffled batch of 64 would cost 64 reads. A chunked dataset
// is instead read one whole chunk-row block at a time (rows [k * chunk_rows, (k + 1) * chunk_rows), all other
// dims whole: one regular hyperslab, each chunk inflated once) and kept here; later rows of the block are memcpys.
#include <cstdint>
#include <functional>
#include <list>
#include <unordered_map>
#include <vector>

namespace tessera::io {

class BlockCache {
 public:
  explicit BlockCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}
  size_t capacity() const { return capacity_; }

  // The block stored under `key`; on a miss, `load` fills `bytes` bytes (evicting older blocks to make room).
  const char* get(uint64_t key, size_t bytes, const std::function<void(char*)>& load);

 private:
  struct Block {
    uint64_t key;
    std::vector<char> data;
  };
  size_t capacity_;
  size_t used_ = 0;
  std::list<Block> blocks_;  // most recently used first
  std::unordered_map<uint64_t, std::list<Block>::iterator> index_;
};

}  // namespace tessera::io
