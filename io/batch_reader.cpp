#include "io/batch_reader.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "io/hdf5/error.h"
#include "io/hdf5/file.h"
#include "io/read_plan.h"

namespace tessera::io {

struct BatchReader::OpenShard {
  h5::File file;
  std::vector<h5::Dataset> datasets;  // one per array
  std::vector<int64_t> block_rows{};  // per array: rows per cached block, 0 to read runs directly
  int fd = -1;                        // HDF5's descriptor of the file (sec2 driver), -1 where there is none
  struct stat opened {};              // its size and modification time when it was opened
};

namespace {

// HDF5's sec2 driver reads bytes past a file's end as zeros, without an error: a shard truncated or rewritten in
// place while training reads it (cp or rsync over it, a node-local copy refreshed) would give zero rows (label 0)
// and the run would end with exit 0. Its descriptor's size or modification time then differs from when it was
// opened; a file replaced by rename is no change (the open descriptor still reads the old file, whole).
void check_unchanged(int fd, const struct stat& opened, const std::string& path) {
  struct stat now {};
  if (fd < 0 || ::fstat(fd, &now) != 0) return;
  const bool same_size = now.st_size == opened.st_size;
  if (same_size && now.st_mtim.tv_sec == opened.st_mtim.tv_sec && now.st_mtim.tv_nsec == opened.st_mtim.tv_nsec)
    return;
  // Same size, new modification time: rewritten in place with as many bytes, or only touched (which cannot be told
  // apart without reading it all again); say which one was seen.
  const double moved = static_cast<double>(now.st_mtim.tv_sec - opened.st_mtim.tv_sec) +
                       1e-9 * static_cast<double>(now.st_mtim.tv_nsec - opened.st_mtim.tv_nsec);
  TESSERA_THROW("data: file '", path, "' changed while training read it (",
                same_size ? "same size, " + std::to_string(static_cast<long long>(now.st_size)) +
                                " bytes, but modified " + std::to_string(moved) + " s after it was last modified "
                                "before the run opened it: rewritten in place, or touched?"
                          : std::to_string(static_cast<long long>(opened.st_size)) + " bytes when opened, now " +
                                std::to_string(static_cast<long long>(now.st_size)),
                "): rows read from it may be zeros or another file's. Do not truncate, rewrite or touch a data file "
                "in place while a job reads it (write a new file and rename it over the old one)");
}

}  // namespace

BatchReader::BatchReader(std::shared_ptr<const ShardedDataset> dataset, size_t cache_bytes, size_t max_open_files,
                         Device pinned_for)
    : dataset_(std::move(dataset)), cache_(cache_bytes), open_(max_open_files), pinned_for_(pinned_for) {
  for (size_t a = 0; a < dataset_->arrays().size(); ++a)
    converters_.emplace_back(dataset_->arrays()[a], dataset_->stored_sample_shape(a), dataset_->layout(a));
}

Tensor BatchReader::host_tensor(const Shape& shape, DType dtype) const {
  return pinned_for_.is_cpu() ? empty(shape, {.dtype = dtype, .device = Device()})
                              : empty_pinned(shape, dtype, pinned_for_);
}

BatchReader::~BatchReader() = default;

BatchReader::OpenShard BatchReader::open_shard(size_t shard) const {
  h5::silence_errors();
  const Shard& info = dataset_->shards()[shard];
  const std::string names = dataset_->array_names();
  OpenShard open{[&] {
    try {
      return h5::File::open_read_only(info.path);
    } catch (const Error& e) {
      TESSERA_THROW(e.message(), " (reading datasets ", names, ")");
    }
  }(), {}};
  // Unchecked: a file read beside its SWMR writer (which grows it by design), or a driver other than sec2 (whose
  // handle is an int*: core's is a pointer to its buffer, stdio's a FILE**; HDF5_DRIVER can choose them in 1.14).
  void* handle = nullptr;
  unsigned intent = 0;
  const hid_t access = H5Fget_access_plist(open.file.id());
  const bool sec2 = access >= 0 && H5Pget_driver(access) == H5FD_SEC2;
  if (access >= 0) H5Pclose(access);
  if (sec2 && H5Fget_intent(open.file.id(), &intent) >= 0 && (intent & H5F_ACC_SWMR_READ) == 0 &&
      H5Fget_vfd_handle(open.file.id(), H5P_DEFAULT, &handle) >= 0 && handle != nullptr &&
      ::fstat(*static_cast<const int*>(handle), &open.opened) == 0) {
    open.fd = *static_cast<const int*>(handle);
  }
  H5Eclear2(H5E_DEFAULT);
  for (size_t a = 0; a < dataset_->arrays().size(); ++a) {
    h5::Dataset dataset = open.file.open_dataset(dataset_->arrays()[a].name);
    TESSERA_CHECK(!dataset.shape().empty() && dataset.shape()[0] == info.rows &&
                      dataset.element_type() == info.element_types[a],
                  dataset.where(), " changed since the dataset was opened (now shape ", shape_str(dataset.shape()), ", ",
                  h5::element_type_name(dataset.element_type()), ")");
    // Blocks are whole chunks along dim 0; only when at least 16 of them fit in the cache, and when the shard has
    // fewer than 2^32 of them: read_blocks keys a block as (shard, array) << 32 | block, so block 2^32 of one array
    // would be the next array's (or shard's) block 0, served from the cache as this one's.
    const Shape chunk = dataset.chunk();
    const size_t row_bytes = static_cast<size_t>(dataset_->sample_numel(a)) *
                             h5::element_type_size(h5::staging_type(info.element_types[a]));
    const bool cached = !chunk.empty() && static_cast<size_t>(chunk[0]) * row_bytes * 16 <= cache_.capacity() &&
                        (info.rows - 1) / chunk[0] < (int64_t{1} << 32);
    open.block_rows.push_back(cached ? chunk[0] : 0);
    open.datasets.push_back(std::move(dataset));
  }
  return open;
}

void BatchReader::read_blocks(const OpenShard& open, size_t shard, size_t a, const std::vector<h5::Run>& runs,
                              h5::ElementType staged, char* out) {
  const int64_t block_rows = open.block_rows[a], rows = dataset_->shards()[shard].rows;
  const size_t row_bytes = static_cast<size_t>(dataset_->sample_numel(a)) * h5::element_type_size(staged);
  const uint64_t key_base = (static_cast<uint64_t>(shard) * dataset_->arrays().size() + a) << 32;
  for (const h5::Run& run : runs) {
    for (int64_t row = run.start, end = run.start + run.length; row < end;) {
      const int64_t first = row / block_rows * block_rows, length = std::min(block_rows, rows - first);
      const char* block = cache_.get(key_base + static_cast<uint64_t>(row / block_rows),
                                     static_cast<size_t>(length) * row_bytes, [&](char* data) {
                                       open.datasets[a].read_runs({{first, length}}, staged, data);
                                     });
      const int64_t count = std::min(end, first + length) - row;
      std::memcpy(out, block + static_cast<size_t>(row - first) * row_bytes, static_cast<size_t>(count) * row_bytes);
      out += static_cast<size_t>(count) * row_bytes;
      row += count;
    }
  }
}

void BatchReader::check_finite(const ArraySpec& spec, const Tensor& rows, const std::vector<int64_t>& indices) const {
  const Tensor values = rows.to(DType::f64).contiguous();  // host rows, read by this thread
  const double* v = values.data_ptr<double>();
  const int64_t row = values.numel() / std::max<int64_t>(static_cast<int64_t>(indices.size()), 1);
  for (size_t entry = 0; entry < indices.size(); ++entry) {
    for (int64_t j = 0; j < row; ++j) {
      const double value = v[static_cast<int64_t>(entry) * row + j];
      if (std::isfinite(value)) continue;
      const auto [shard, file_row] = dataset_->locate(indices[entry]);
      TESSERA_THROW("data: row ", file_row, " of dataset '", spec.name, "' in file '", shard->path, "' holds ", value,
                    " (element ", j, "); data.check_finite rejects non-finite samples");
    }
  }
}

Batch BatchReader::read(const std::vector<int64_t>& indices, const std::vector<uint8_t>& valid) {
  const ReadPlan plan = plan_reads(indices, dataset_->offsets());
  const int64_t batch = static_cast<int64_t>(indices.size());
  // (row in the read, batch entry) per read; shared by every array.
  std::vector<std::vector<std::pair<int64_t, int64_t>>> moves(plan.reads.size());
  bool in_order = plan.reads.size() == 1;
  for (int64_t entry = 0; entry < batch; ++entry) {
    const RowSource& source = plan.sources[static_cast<size_t>(entry)];
    moves[source.read].emplace_back(source.row, entry);
    in_order = in_order && source.row == entry;
  }

  Batch result;
  result.indices = indices;
  const size_t arrays = dataset_->arrays().size();
  for (size_t a = 0; a < arrays; ++a) {
    Shape shape = dataset_->sample_shape(a);
    shape.insert(shape.begin(), batch);
    result.names.push_back(dataset_->arrays()[a].name);
    result.tensors.push_back(host_tensor(shape, dataset_->arrays()[a].dtype));
  }
  // Shards outer, arrays inner: each shard is opened (or found open) once per batch, whatever max_open_files is.
  for (size_t k = 0; k < plan.reads.size(); ++k) {
    const ShardRead& read = plan.reads[k];
    const OpenShard& shard = open_.get(read.shard, [&] { return open_shard(read.shard); });
    for (size_t a = 0; a < arrays; ++a) {
      void* out = result.tensors[a].raw_data();
      const h5::ElementType staged = h5::staging_type(dataset_->shards()[read.shard].element_types[a]);
      const bool blocks = shard.block_rows[a] > 0;
      if (!blocks && in_order && converters_[a].passes_through(staged)) {  // rows land in batch order: in place
        shard.datasets[a].read_runs(read.runs, staged, out);
        continue;
      }
      staging_.resize(static_cast<size_t>(read.rows * dataset_->sample_numel(a)) * h5::element_type_size(staged));
      if (blocks) read_blocks(shard, read.shard, a, read.runs, staged, staging_.data());
      else shard.datasets[a].read_runs(read.runs, staged, staging_.data());
      converters_[a].convert(staged, staging_.data(), out, moves[k]);
    }
    // After the reads: a truncation before or during them shows here (cached blocks were read while it was whole).
    check_unchanged(shard.fd, shard.opened, dataset_->shards()[read.shard].path);
  }
  for (size_t a = 0; a < arrays; ++a) {
    const ArraySpec& spec = dataset_->arrays()[a];
    if (dataset_->check_finite() && is_floating(spec.dtype)) check_finite(spec, result.tensors[a], indices);
  }
  result.valid = host_tensor({batch}, DType::boolean);
  bool* mask = result.valid.data_ptr<bool>();
  for (int64_t i = 0; i < batch; ++i) {
    mask[i] = valid.empty() || valid[static_cast<size_t>(i)] != 0;
    result.valid_count += mask[i] ? 1 : 0;
  }
  return result;
}

}  // namespace tessera::io
