#include "io/batch_reader.h"

#include <cstring>

#include "io/hdf5/error.h"
#include "io/hdf5/file.h"
#include "io/read_plan.h"

namespace tessera::io {

struct BatchReader::OpenShard {
  h5::File file;
  std::vector<h5::Dataset> datasets;  // one per array
};

BatchReader::BatchReader(std::shared_ptr<const ShardedDataset> dataset, h5::ChunkCache cache)
    : dataset_(std::move(dataset)), cache_(cache), open_(dataset_->shards().size()) {
  for (size_t a = 0; a < dataset_->arrays().size(); ++a)
    converters_.emplace_back(dataset_->arrays()[a], dataset_->sample_shape(a));
}

BatchReader::~BatchReader() = default;

BatchReader::OpenShard& BatchReader::open_shard(size_t shard) {
  if (open_[shard]) return *open_[shard];
  h5::silence_errors();
  const Shard& info = dataset_->shards()[shard];
  const std::string names = dataset_->array_names();
  auto open = std::make_unique<OpenShard>(OpenShard{[&] {
    try {
      return h5::File::open_read_only(info.path);
    } catch (const Error& e) {
      TESSERA_THROW(e.message(), " (reading datasets ", names, ")");
    }
  }(), {}});
  for (size_t a = 0; a < dataset_->arrays().size(); ++a) {
    h5::Dataset dataset = open->file.open_dataset(dataset_->arrays()[a].name, cache_);
    TESSERA_CHECK(!dataset.shape().empty() && dataset.shape()[0] == info.rows &&
                      dataset.element_type() == info.element_types[a],
                  dataset.where(), " changed since the dataset was opened (now shape ", shape_str(dataset.shape()), ", ",
                  h5::element_type_name(dataset.element_type()), ")");
    open->datasets.push_back(std::move(dataset));
  }
  open_[shard] = std::move(open);
  return *open_[shard];
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
  for (size_t a = 0; a < dataset_->arrays().size(); ++a) {
    const ArraySpec& spec = dataset_->arrays()[a];
    Shape shape = dataset_->sample_shape(a);
    shape.insert(shape.begin(), batch);
    Tensor out = empty(shape, {.dtype = spec.dtype});
    const int64_t row_numel = dataset_->sample_numel(a);
    for (size_t k = 0; k < plan.reads.size(); ++k) {
      const ShardRead& read = plan.reads[k];
      OpenShard& shard = open_shard(read.shard);
      const h5::ElementType staged = h5::staging_type(dataset_->shards()[read.shard].element_types[a]);
      if (in_order && converters_[a].passes_through(staged)) {  // rows land in batch order: read in place
        shard.datasets[a].read_runs(read.runs, staged, out.raw_data());
        continue;
      }
      staging_.resize(static_cast<size_t>(read.rows * row_numel) * h5::element_type_size(staged));
      shard.datasets[a].read_runs(read.runs, staged, staging_.data());
      converters_[a].convert(staged, staging_.data(), out.raw_data(), moves[k]);
    }
    result.names.push_back(spec.name);
    result.tensors.push_back(std::move(out));
  }
  result.valid = empty({batch}, {.dtype = DType::boolean});
  bool* mask = result.valid.data_ptr<bool>();
  for (int64_t i = 0; i < batch; ++i) {
    mask[i] = valid.empty() || valid[static_cast<size_t>(i)] != 0;
    result.valid_count += mask[i] ? 1 : 0;
  }
  return result;
}

}  // namespace tessera::io
