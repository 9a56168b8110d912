#include "io/convert/shard_writer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>
#include <regex>
#include <system_error>

#include "core/check.h"
#include "io/convert/progress.h"
#include "io/hdf5/file.h"

namespace tessera::io {

std::string shard_name(const std::string& split, int shard, int shards) {
  char name[64];
  std::snprintf(name, sizeof(name), "%s-%05d-of-%05d.h5", split.c_str(), shard, shards);
  return name;
}

std::vector<std::string> shard_names(const std::string& split, int shards) {
  std::vector<std::string> names;
  for (int s = 0; s < shards; ++s) names.push_back(shard_name(split, s, shards));
  return names;
}

void create_output_directory(const ShardOptions& options) {
  TESSERA_CHECK(!options.out_dir.empty(), "no output directory given (--out DIR)");
  std::error_code error;
  std::filesystem::create_directories(options.out_dir, error);
  TESSERA_CHECK(!error, "cannot create output directory '", options.out_dir, "': ", error.message());
}

void check_no_other_shards(const std::string& out_dir, const std::vector<std::string>& names) {
  std::error_code error;
  if (!std::filesystem::is_directory(out_dir, error)) return;
  static const std::regex shard_file("(train|test)-[0-9]{5,}-of-[0-9]{5,}\\.h5");
  std::vector<std::string> others;
  for (const auto& entry : std::filesystem::directory_iterator(out_dir, error)) {
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, shard_file) && std::find(names.begin(), names.end(), name) == names.end())
      others.push_back(name);
  }
  if (others.empty()) return;
  std::sort(others.begin(), others.end());
  std::string listed;
  for (size_t i = 0; i < others.size() && i < 4; ++i) listed += (i ? ", " : "") + others[i];
  if (others.size() > 4) listed += " and " + std::to_string(others.size() - 4) + " more";
  TESSERA_THROW("output directory '", out_dir, "' holds ", others.size(), " shard file(s) of another conversion (",
                listed, ") that this one would not replace: a pattern such as train-*.h5 would read them beside the ",
                "new files. Remove them, or give another --out");
}

namespace {

// Chunks of `chunk_rows` whole rows; gzip with the shuffle filter where elements have several bytes (it groups
// their bytes, which deflate then compresses better). The rows `rows` of `array` (in that order) are written slab by
// slab, whole chunks of about kSlabBytes at a time, so the writer holds one slab, not the array.
constexpr size_t kSlabBytes = size_t{64} << 20;

h5::Dataset create_rows(const h5::File& file, const std::string& name, const RowArray& array,
                        const std::vector<int64_t>& rows, const ShardOptions& options, Progress* progress = nullptr) {
  Shape shape = array.shape;
  shape[0] = static_cast<int64_t>(rows.size());
  Shape chunk = shape;
  // HDF5 refuses a chunk of 4 GiB or more ("chunk size must be < 4GB"): fewer rows per chunk than asked for where
  // chunk_rows of these rows would reach it (256 rows of 16 MiB samples already do).
  const size_t max_chunk_bytes = (size_t{1} << 32) - 1, sample_bytes = std::max<size_t>(array.row_bytes(), 1);
  TESSERA_CHECK(sample_bytes <= max_chunk_bytes, "'", name, "': a sample of ", sample_bytes,
                " bytes is more than one HDF5 chunk holds (4 GiB)");
  const auto rows_fitting = static_cast<int64_t>(max_chunk_bytes / sample_bytes);
  chunk[0] = std::max<int64_t>(1, std::min({options.chunk_rows, shape[0], rows_fitting}));
  const bool multi_byte = h5::element_type_size(array.type) > 1;
  h5::Dataset dataset =
      file.create_dataset(name, array.type, shape,
                          {.chunk = chunk, .gzip_level = options.gzip ? 4 : -1, .shuffle = options.gzip && multi_byte});
  const size_t row_bytes = std::max<size_t>(array.row_bytes(), 1);
  const auto chunks_per_slab = static_cast<int64_t>(std::max<size_t>(1, kSlabBytes / (row_bytes * chunk[0])));
  const int64_t slab_rows = chunks_per_slab * chunk[0];
  std::vector<uint8_t> slab;
  for (int64_t first = 0; first < shape[0]; first += slab_rows) {
    const int64_t count = std::min(slab_rows, shape[0] - first);
    slab.resize(static_cast<size_t>(count) * array.row_bytes());
    array.read_rows(rows.data() + first, static_cast<size_t>(count), slab.data());
    dataset.write_rows(first, count, array.type, slab.data());
    if (progress) progress->advance(count);  // per slab: images are decoded here, and take their time
  }
  return dataset;
}

std::vector<int64_t> range_of(int64_t first, int64_t rows) {
  std::vector<int64_t> indices(static_cast<size_t>(rows));
  std::iota(indices.begin(), indices.end(), first);
  return indices;
}

}  // namespace

void discard_shards(const std::vector<ConvertedShard>& shards) {
  std::error_code ignored;
  for (const ConvertedShard& shard : shards) std::filesystem::remove(shard.path + ".partial", ignored);
}

void commit_shards(const std::vector<ConvertedShard>& shards) {
  std::error_code error;
  // What would stop a rename (a folder of a shard's name) is found before anything is replaced.
  for (const ConvertedShard& shard : shards) {
    if (!std::filesystem::is_directory(shard.path, error)) continue;
    discard_shards(shards);
    TESSERA_THROW("cannot write shard '", shard.path, "': a folder of that name is in the way (nothing replaced)");
  }
  for (size_t i = 0; i < shards.size(); ++i) {
    std::filesystem::rename(shards[i].path + ".partial", shards[i].path, error);
    if (!error) continue;
    discard_shards({shards.begin() + static_cast<std::ptrdiff_t>(i), shards.end()});  // no .partial left behind
    TESSERA_THROW("cannot rename '", shards[i].path, ".partial' to its name: ", error.message(), " (", i, " of ",
                  shards.size(), " shards were already replaced)");
  }
}

std::vector<ConvertedShard> write_shards(const ShardOptions& options, const std::string& split,
                                         const LabelledArrays& data, const std::vector<int64_t>* source_rows,
                                         bool commit) {
  TESSERA_CHECK(data.y.rows() == data.x.rows(), "write_shards: x has ", data.x.rows(), " rows but y has ",
                data.y.rows());
  const int64_t n = source_rows ? static_cast<int64_t>(source_rows->size()) : data.x.rows();
  TESSERA_CHECK(options.shards >= 1 && options.shards <= n, "--shards must be in [1, ", n, "] for the ", n,
                " samples of split '", split, "', got ", options.shards);
  TESSERA_CHECK(options.chunk_rows >= 1, "--chunk-rows must be at least 1, got ", options.chunk_rows);
  std::vector<ConvertedShard> written;
  Progress progress("writing " + split + " shards", n);
  for (int s = 0; s < options.shards; ++s) {
    const int64_t first = n * s / options.shards, rows = n * (s + 1) / options.shards - first;
    const std::string path = options.out_dir + "/" + shard_name(split, s, options.shards);
    const std::string temporary = path + ".partial";  // renamed when complete: no half-written shard
    try {
      const std::vector<int64_t> taken =
          source_rows ? std::vector<int64_t>(source_rows->begin() + first, source_rows->begin() + first + rows)
                      : range_of(first, rows);
      h5::File file = h5::File::create(temporary);
      const h5::Dataset x = create_rows(file, "x", data.x, taken, options, &progress);
      if (!data.x_layout.empty()) h5::write_attribute(x.id(), "layout", data.x_layout);
      const h5::Dataset y = create_rows(file, "y", data.y, taken, options);
      if (!data.classes.empty()) h5::write_attribute(y.id(), "classes", data.classes);
      if (source_rows) {
        RowArray index = RowArray::zeros(h5::ElementType::i64, {rows});
        std::copy(taken.begin(), taken.end(), index.data<int64_t>());
        create_rows(file, "index", index, range_of(0, rows), options);
      }
      for (const auto& [name, value] : data.attributes) h5::write_attribute(file.id(), name, value);
      h5::write_attribute(file.id(), "split", split);
      h5::write_attribute(file.id(), "shard", int64_t{s});
      h5::write_attribute(file.id(), "num_shards", int64_t{options.shards});
      h5::write_attribute(file.id(), "first_index", first);
      h5::write_attribute(file.id(), "split_size", n);
      file.flush();  // a full disk fails here, before the rename; the destructors' closes cannot report it
    } catch (...) {  // a row that cannot be read (a bad image, a file truncated meanwhile): nothing stays behind
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      discard_shards(written);
      throw;
    }
    written.push_back({path, split, first, rows});
  }
  // Renamed only when every shard is complete: a failure above leaves a previous conversion's files as they were,
  // not some of them replaced and the rest deleted.
  if (commit) commit_shards(written);
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
  std::vector<std::string> names;  // what this conversion writes; a split smaller than --shards gets fewer files
  for (const auto& [name, indices] : {std::pair{"train", &rows.train}, std::pair{"test", &rows.test}}) {
    const auto shards = static_cast<int>(std::min<int64_t>(options.shards, static_cast<int64_t>(indices->size())));
    for (std::string& file : shard_names(name, shards)) names.push_back(std::move(file));
  }
  check_no_other_shards(options.out_dir, names);
  std::error_code error;
  const bool existed = std::filesystem::exists(options.out_dir, error);
  create_output_directory(options);
  std::vector<ConvertedShard> written;
  try {
    for (const auto& [name, indices] : {std::pair{"train", &rows.train}, std::pair{"test", &rows.test}}) {
      if (indices->empty()) continue;
      ShardOptions part_options = options;
      part_options.shards = static_cast<int>(std::min<int64_t>(options.shards, static_cast<int64_t>(indices->size())));
      for (ConvertedShard& shard : write_shards(part_options, name, data, indices, /*commit=*/false))
        written.push_back(std::move(shard));
    }
  } catch (...) {  // the other split's shards go too, and the folder where this call made it
    discard_shards(written);
    if (!existed) std::filesystem::remove_all(options.out_dir, error);
    throw;
  }
  commit_shards(written);  // train and test together: never a new train split beside an old test split
  return written;
}

}  // namespace tessera::io
