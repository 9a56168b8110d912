#include "io/convert/shard_writer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>

#include "core/check.h"
#include "io/convert/progress.h"
#include "io/hdf5/file.h"

namespace tessera::io {

std::string shard_name(const std::string& split, int shard, int shards) {
  char name[64];
  std::snprintf(name, sizeof(name), "%s-%05d-of-%05d.h5", split.c_str(), shard, shards);
  return name;
}

void create_output_directory(const ShardOptions& options) {
  TESSERA_CHECK(!options.out_dir.empty(), "no output directory given (--out DIR)");
  std::error_code error;
  std::filesystem::create_directories(options.out_dir, error);
  TESSERA_CHECK(!error, "cannot create output directory '", options.out_dir, "': ", error.message());
}

namespace {

// Chunks of `chunk_rows` whole rows; gzip with the shuffle filter where elements have several bytes (it groups
// their bytes, which deflate then compresses better).
h5::Dataset create_rows(const h5::File& file, const std::string& name, const RowArray& rows,
                        const ShardOptions& options) {
  Shape chunk = rows.shape;
  chunk[0] = std::max<int64_t>(1, std::min(options.chunk_rows, rows.rows()));
  const bool multi_byte = h5::element_type_size(rows.type) > 1;
  h5::Dataset dataset =
      file.create_dataset(name, rows.type, rows.shape,
                          {.chunk = chunk, .gzip_level = options.gzip ? 4 : -1, .shuffle = options.gzip && multi_byte});
  dataset.write_all(rows.type, rows.bytes.data());
  return dataset;
}

std::vector<int64_t> range_of(int64_t first, int64_t rows) {
  std::vector<int64_t> indices(static_cast<size_t>(rows));
  std::iota(indices.begin(), indices.end(), first);
  return indices;
}

}  // namespace

std::vector<ConvertedShard> write_shards(const ShardOptions& options, const std::string& split,
                                         const LabelledArrays& data, const std::vector<int64_t>* source_rows) {
  const int64_t n = data.x.rows();
  TESSERA_CHECK(data.y.rows() == n, "write_shards: x has ", n, " rows but y has ", data.y.rows());
  TESSERA_CHECK(options.shards >= 1 && options.shards <= n, "--shards must be in [1, ", n, "] for the ", n,
                " samples of split '", split, "', got ", options.shards);
  TESSERA_CHECK(options.chunk_rows >= 1, "--chunk-rows must be at least 1, got ", options.chunk_rows);
  std::vector<ConvertedShard> written;
  Progress progress("writing " + split + " shards", n);
  for (int s = 0; s < options.shards; ++s) {
    const int64_t first = n * s / options.shards, rows = n * (s + 1) / options.shards - first;
    const std::string path = options.out_dir + "/" + shard_name(split, s, options.shards);
    const std::string temporary = path + ".partial";  // renamed when complete: no half-written shard
    {
      const std::vector<int64_t> taken = range_of(first, rows);
      h5::File file = h5::File::create(temporary);
      const h5::Dataset x = create_rows(file, "x", data.x.take(taken), options);
      if (!data.x_layout.empty()) h5::write_attribute(x.id(), "layout", data.x_layout);
      const h5::Dataset y = create_rows(file, "y", data.y.take(taken), options);
      if (!data.classes.empty()) h5::write_attribute(y.id(), "classes", data.classes);
      if (source_rows) {
        RowArray index = RowArray::zeros(h5::ElementType::i64, {rows});
        std::copy_n(source_rows->begin() + first, rows, index.data<int64_t>());
        create_rows(file, "index", index, options);
      }
      for (const auto& [name, value] : data.attributes) h5::write_attribute(file.id(), name, value);
      h5::write_attribute(file.id(), "split", split);
      h5::write_attribute(file.id(), "shard", int64_t{s});
      h5::write_attribute(file.id(), "num_shards", int64_t{options.shards});
      h5::write_attribute(file.id(), "first_index", first);
      h5::write_attribute(file.id(), "split_size", n);
    }
    std::filesystem::rename(temporary, path);
    written.push_back({path, split, first, rows});
    progress.advance(rows);
  }
  return written;
}

SplitRows split_rows(int64_t n, const SplitOptions& options) {
  TESSERA_CHECK(options.test_fraction >= 0 && options.test_fraction < 1, "--test-fraction must be in [0, 1), got ",
                options.test_fraction);
  const auto test_rows = static_cast<int64_t>(std::llround(static_cast<double>(n) * options.test_fraction));
  TESSERA_CHECK(options.test_fraction == 0 || (test_rows >= 1 && test_rows < n), "--test-fraction ",
                options.test_fraction, " of ", n, " samples leaves ", test_rows, " for test and ", n - test_rows,
                " for train; each split needs at least one");
  std::vector<int64_t> order = range_of(0, n);
  std::mt19937_64 random(options.seed);
  std::shuffle(order.begin(), order.end(), random);
  SplitRows split{.train = {order.begin() + test_rows, order.end()},
                  .test = {order.begin(), order.begin() + test_rows}};
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.test.begin(), split.test.end());
  return split;
}

std::vector<ConvertedShard> write_split_shards(const ShardOptions& options, const SplitOptions& split,
                                               const LabelledArrays& data) {
  const SplitRows rows = split_rows(data.x.rows(), split);
  create_output_directory(options);
  std::vector<ConvertedShard> written;
  for (const auto& [name, indices] : {std::pair{"train", &rows.train}, std::pair{"test", &rows.test}}) {
    if (indices->empty()) continue;
    LabelledArrays part{.x = data.x.take(*indices),
                        .y = data.y.take(*indices),
                        .x_layout = data.x_layout,
                        .classes = data.classes,
                        .attributes = data.attributes};
    ShardOptions part_options = options;
    part_options.shards = static_cast<int>(std::min<int64_t>(options.shards, static_cast<int64_t>(indices->size())));
    for (ConvertedShard& shard : write_shards(part_options, name, part, indices)) written.push_back(std::move(shard));
  }
  return written;
}

}  // namespace tessera::io
