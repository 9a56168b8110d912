#pragma once
// BatchReader: reads the samples of one batch from a ShardedDataset. Files are opened on first use (so a shard
// deleted or replaced after the dataset was scanned is reported when it is needed) and kept open. Not thread-safe:
// the Loader gives each reader to exactly one thread, which then makes every HDF5 call.
#include <memory>
#include <vector>

#include "io/batch.h"
#include "io/hdf5/dataset.h"
#include "io/row_converter.h"
#include "io/sharded_dataset.h"

namespace tessera::io {

class BatchReader {
 public:
  explicit BatchReader(std::shared_ptr<const ShardedDataset> dataset, h5::ChunkCache cache = {});
  ~BatchReader();
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  // The samples `indices` (global, batch order, repeats allowed); `valid` marks padding (empty: all valid).
  // Each shard touched costs one HDF5 read per array, of every maximal run of consecutive indices at once.
  Batch read(const std::vector<int64_t>& indices, const std::vector<uint8_t>& valid = {});

 private:
  struct OpenShard;
  OpenShard& open_shard(size_t shard);

  std::shared_ptr<const ShardedDataset> dataset_;
  h5::ChunkCache cache_;
  std::vector<RowConverter> converters_;
  std::vector<std::unique_ptr<OpenShard>> open_;
  std::vector<char> staging_;  // reused between batches
};

}  // namespace tessera::io
