#pragma once
// Fashion-MNIST (Zalando Research, 70,000 28x28 grey images of 10 clothing classes) from the idx files of Debian's
// dataset-fashion-mnist package into sharded HDF5 files:
//   <out>/train-00000-of-0000N.h5 ... and <out>/test-00000-of-0000N.h5 ...,
// each with x (n, 1, 28, 28) u8 chunked (optionally gzip), y (n,) i64, and attributes naming the source.
// Shards are contiguous ranges of the original order, sizes differing by at most one.
#include <string>
#include <vector>

#include "io/convert/shard_writer.h"

namespace tessera::io {

inline constexpr const char* kFashionMnistDefaultSource = "/usr/share/datasets/fashion-mnist";

struct FashionMnistOptions {
  std::string source_dir = kFashionMnistDefaultSource;
  ShardOptions output;  // out_dir, shards per split, chunk_rows (256: ~200 KB of images), gzip
};

std::vector<ConvertedShard> convert_fashion_mnist(const FashionMnistOptions& options);

}  // namespace tessera::io
