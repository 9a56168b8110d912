#pragma once
// How the samples of one batch are read: a pure planning function, unit-tested without files.
// The batch's global indices (in batch order, repeats allowed) are sorted and de-duplicated, cut into maximal
// runs of consecutive indices within one shard, and each shard's runs become one HDF5 selection and one read.
// The rows come back in increasing index order; `sources` then says where each batch entry's row is.
#include <cstdint>
#include <vector>

#include "io/hdf5/dataset.h"

namespace tessera::io {

struct ShardRead {
  size_t shard = 0;
  std::vector<h5::Run> runs{};// shard-local rows, increasing
  int64_t rows = 0;           // sum of the runs' lengths
};

struct RowSource {
  size_t read = 0;  // index into ReadPlan::reads
  int64_t row = 0;  // row within that read's packed result
};

struct ReadPlan {
  std::vector<ShardRead> reads;   // one per shard touched, in shard order
  std::vector<RowSource> sources;  // one per batch entry, in batch order
};

// `offsets` are the shards' starting global indices plus the total (ShardedDataset::offsets()).
ReadPlan plan_reads(const std::vector<int64_t>& indices, const std::vector<int64_t>& offsets);

}  // namespace tessera::io
