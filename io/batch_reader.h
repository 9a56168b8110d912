#pragma once
// BatchReader: reads the samples of one batch from a ShardedDataset. Files are opened on first use (so a shard
// deleted or replaced after the dataset was scanned is reported when it is needed) and kept open, at most
// `max_open_files` at once (least recently used closed first, reopened when needed again: io/open_files.h). A batch
// visits each of its shards once, for all arrays. Chunked datasets are read in whole chunk-row blocks through a
// BlockCache; contiguous ones as one selection of runs per shard.
// Not thread-safe: the Loader gives each reader to exactly one thread, which then makes every HDF5 call.
#include <memory>
#include <vector>

#include "io/batch.h"
#include "io/block_cache.h"
#include "io/hdf5/dataset.h"
#include "io/open_files.h"
#include "io/row_converter.h"
#include "io/sharded_dataset.h"

namespace tessera::io {

class BatchReader {
 public:
  // `cache_bytes`: the BlockCache's budget for all shards and arrays together; `max_open_files`: shards kept open;
  // `pinned_for`: an accelerator to assemble batches in pinned memory for (the CPU: ordinary host memory).
  BatchReader(std::shared_ptr<const ShardedDataset> dataset, size_t cache_bytes, size_t max_open_files,
              Device pinned_for = Device());
  static constexpr size_t kDefaultCacheBytes = size_t{256} << 20;
  ~BatchReader();
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  // The samples `indices` (global, batch order, repeats allowed); `valid` marks padding (empty: all valid).
  // Rows come from cached blocks (chunked datasets) or one HDF5 read per shard and array (contiguous ones).
  Batch read(const std::vector<int64_t>& indices, const std::vector<uint8_t>& valid = {});

 private:
  struct OpenShard;
  OpenShard open_shard(size_t shard) const;
  // Packs the rows of `runs` of array `a` of `shard` (open as `open`) into `out` via the block cache.
  void read_blocks(const OpenShard& open, size_t shard, size_t a, const std::vector<h5::Run>& runs,
                   h5::ElementType staged, char* out);
  // data.check_finite: throws naming the file and row of the first entry of `rows` holding NaN or infinity.
  void check_finite(const ArraySpec& spec, const Tensor& rows, const std::vector<int64_t>& indices) const;

  std::shared_ptr<const ShardedDataset> dataset_;
  BlockCache cache_;
  std::vector<RowConverter> converters_;
  Tensor host_tensor(const Shape& shape, DType dtype) const;  // a batch tensor, pinned when asked

  OpenFiles<OpenShard> open_;
  Device pinned_for_;
  std::vector<char> staging_;  // reused between batches
};

}  // namespace tessera::io
