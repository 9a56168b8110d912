#pragma once
// Writes a data set (LabelledArrays) as sharded HDF5, the layout every converter shares:
//   <out>/<split>-00000-of-0000N.h5 ...  (split "train" or "test"), each file holding
//   x and y (contiguous row ranges of the split, shard sizes differing by at most one), chunked `chunk_rows` rows
//   at a time, gzip level 4 when asked (with the shuffle filter for multi-byte elements), x's `layout` and y's
//   `classes` attributes, and on the root group the source attributes plus split, shard, num_shards, first_index
//   (of the shard's first row in the split) and split_size.
// A shard is written under <name>.partial and renamed when complete, so a failed run leaves no half-written file
// under a real name; a failure while writing (rows are read as they are written: a bad image) removes what the call
// wrote, and write_split_shards also the output folder it made.
#include <cstdint>
#include <string>
#include <vector>

#include "io/convert/labelled_arrays.h"

namespace tessera::io {

struct ShardOptions {
  std::string out_dir;
  int shards = 1;            // per split
  int64_t chunk_rows = 256;  // samples per HDF5 chunk
  bool gzip = true;          // deflate level 4
};

struct ConvertedShard {
  std::string path;
  std::string split;  // "train" or "test"
  int64_t first = 0;  // index of its first sample in the split
  int64_t rows = 0;
};

// "train-00002-of-00004.h5"
std::string shard_name(const std::string& split, int shard, int shards);
// Every file name of `split` written as `shards` files: shard_name(split, 0, shards) ... (split, shards - 1, shards).
std::vector<std::string> shard_names(const std::string& split, int shards);

// Creates options.out_dir (an error names it when that fails).
void create_output_directory(const ShardOptions& options);

// Refuses an output directory holding shard files ("train-00000-of-00004.h5", "test-...") other than `names`, the
// files the conversion about to run writes (and replaces): they would stay beside the new ones, and a pattern such
// as train-*.h5 would then read both (samples twice, or a stale test set overlapping the new train set). The error
// names them. Nothing when the directory does not exist.
void check_no_other_shards(const std::string& out_dir, const std::vector<std::string>& names);

// Writes `data` as options.shards files of `split`: all its rows, or the rows `source_rows` lists (in that order),
// which are then also written as the dataset `index`: the row of the converter's input each sample came from.
// Rows are read and written a slab at a time (data may be left in its file: RowArray::file).
// With commit false the files stay <path>.partial until commit_shards (to rename several splits together).
std::vector<ConvertedShard> write_shards(const ShardOptions& options, const std::string& split,
                                         const LabelledArrays& data, const std::vector<int64_t>* source_rows = nullptr,
                                         bool commit = true);
// Renames the shards write_shards(..., commit = false) wrote from <path>.partial to <path>.
void commit_shards(const std::vector<ConvertedShard>& shards);
// Removes those shards' <path>.partial files instead (a later split failed: nothing of the conversion stays).
void discard_shards(const std::vector<ConvertedShard>& shards);

// A seeded, shuffled split of rows 0..n-1 into train and test: round(n * test_fraction) rows drawn at random for
// test, each split then in source order. Pure: the same n, fraction and seed give the same split everywhere.
struct SplitOptions {
  double test_fraction = 0;  // in [0, 1); 0: everything is train
  uint64_t seed = 0;
};
struct SplitRows {
  std::vector<int64_t> train, test;
};
SplitRows split_rows(int64_t n, const SplitOptions& options);

// Splits `data` (split_rows) and writes the train shards and, with a test fraction, the test shards; each file
// records the source row of every sample in `index`. A split smaller than options.shards gets one file per row.
std::vector<ConvertedShard> write_split_shards(const ShardOptions& options, const SplitOptions& split,
                                               const LabelledArrays& data);

}  // namespace tessera::io
