#include "io/sharded_dataset.h"

#include <algorithm>

#include <glob.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "io/hdf5/file.h"

namespace tessera::io {

std::vector<std::string> expand_file_patterns(const std::vector<std::string>& patterns, const std::string& what) {
  std::vector<std::string> paths;
  for (const std::string& pattern : patterns) {
    // A file that exists under this very name is that file, even with glob characters in it ("run[1].h5").
    struct stat info {};
    if (pattern.find_first_of("*?[") == std::string::npos || ::stat(pattern.c_str(), &info) == 0) {
      paths.push_back(pattern);
      continue;
    }
    glob_t matches{};
    const int status = ::glob(pattern.c_str(), 0, nullptr, &matches);  // sorted by glob(3)
    for (size_t i = 0; status == 0 && i < matches.gl_pathc; ++i) paths.emplace_back(matches.gl_pathv[i]);
    globfree(&matches);
    TESSERA_CHECK(status == 0, "file pattern '", pattern, "' matches no file (looking for datasets ", what, ")");
  }
  TESSERA_CHECK(!paths.empty(), "no data files given (looking for datasets ", what, ")");
  // Overlapping patterns ("train-*.h5" beside "train-00000-of-00004.h5", or "./a.h5" beside "a.h5") would read a
  // file's samples twice each epoch, silently weighting it double.
  std::map<std::filesystem::path, std::string> seen;
  for (const std::string& path : paths) {
    std::error_code error;
    const std::filesystem::path canonical = std::filesystem::weakly_canonical(path, error);
    const auto [it, inserted] = seen.emplace(error ? std::filesystem::path(path) : canonical, path);
    TESSERA_CHECK(inserted, "data file '", path, "' is given twice (also as '", it->second,
                  "'): its samples would be read twice each epoch (looking for datasets ", what, ")");
  }
  return paths;
}

std::string ShardedDataset::array_names() const {
  std::string names;
  for (const auto& array : options_.arrays) names += (names.empty() ? "'" : ", '") + array.name + "'";
  return names;
}

ShardedDataset::ShardedDataset(DatasetOptions options) : options_(std::move(options)) {
  TESSERA_CHECK(!options_.arrays.empty(), "ShardedDataset: no arrays named (e.g. 'x' and 'y')");
  const std::string names = array_names();
  for (const ArraySpec& spec : options_.arrays) {
    TESSERA_CHECK(!spec.labels || (spec.scale == 1.0 && spec.mean.empty() && spec.std.empty()), "dataset '", spec.name,
                  "': class labels are checked as stored, so they take no scale, mean or std");
  }
  for (const std::string& path : expand_file_patterns(options_.files, names)) {
    h5::File file = [&] {
      try {
        return h5::File::open_read_only(path);
      } catch (const Error& e) {
        TESSERA_THROW(e.message(), " (looking for datasets ", names, ")");
      }
    }();
    Shard shard{.path = path};
    for (size_t a = 0; a < options_.arrays.size(); ++a) {
      const ArraySpec& spec = options_.arrays[a];
      const h5::Dataset dataset = file.open_dataset(spec.name);
      dataset.check_filters_available();
      dataset.check_virtual_sources_found();
      const Shape& shape = dataset.shape();
      TESSERA_CHECK(spec.rank < 0 || static_cast<int64_t>(shape.size()) == spec.rank, dataset.where(), " has rank ",
                    shape.size(), " (shape ", shape_str(shape), ") but rank ", spec.rank, " is expected",
                    spec.rank == 4 ? " (N, C, H, W images)" : "");
      TESSERA_CHECK(!shape.empty(), dataset.where(), " is a scalar; expected one row per sample");
      TESSERA_CHECK(shape[0] > 0, dataset.where(), " is empty (shape ", shape_str(shape), ")");
      const Shape sample(shape.begin() + 1, shape.end());
      if (a == 0) shard.rows = shape[0];
      TESSERA_CHECK(shape[0] == shard.rows, dataset.where(), " has ", shape[0], " rows but dataset '",
                    options_.arrays[0].name, "' has ", shard.rows, ": first dimensions must agree within a file");
      const ImageLayout layout = resolve_image_layout(
          spec.layout, shape, h5::read_string_attribute(dataset.id(), "layout").value_or(""), dataset.where());
      if (shards_.empty()) {
        stored_sample_shapes_.push_back(sample);
        sample_shapes_.push_back(model_sample_shape(sample, layout));
        layouts_.push_back(layout);
        const int64_t channels = sample_shapes_.back().empty() ? 1 : sample_shapes_.back()[0];
        const std::string key = spec.key.empty() ? "" : spec.key + ".";
        for (const auto* stats : {&spec.mean, &spec.std}) {
          TESSERA_CHECK(stats->empty() || stats->size() == 1 || static_cast<int64_t>(stats->size()) == channels,
                        dataset.where(), ": ", key, stats == &spec.mean ? "mean" : "std", " has ", stats->size(),
                        " values; expected 1 or ", channels, " (one per entry of dim 1 of its samples ",
                        shape_str(sample_shapes_.back()), ", read with layout ", image_layout_name(layout), ")",
                        channels_last_hint(layout, shape));
        }
        for (double s : spec.std) TESSERA_CHECK(s != 0, dataset.where(), ": ", key, "std must not be 0");
      } else {
        TESSERA_CHECK(sample == stored_sample_shapes_[a], dataset.where(), " has sample shape ", shape_str(sample),
                      " but file '", shards_[0].path, "' has ", shape_str(stored_sample_shapes_[a]),
                      ": samples must have one shape in every file");
        TESSERA_CHECK(layout == layouts_[a], dataset.where(), " is read as ", image_layout_name(layout),
                      " but file '", shards_[0].path, "' as ", image_layout_name(layouts_[a]),
                      " (layout ", image_layout_name(spec.layout), "): every file must store images one way");
      }
      shard.largest_labels.push_back(spec.labels ? check_labels(dataset, *spec.labels) : LargestLabel{});
      shard.element_types.push_back(dataset.element_type());
    }
    offsets_.push_back(offsets_.back() + shard.rows);
    shards_.push_back(std::move(shard));
  }
}

std::pair<const Shard*, int64_t> ShardedDataset::locate(int64_t index) const {
  TESSERA_CHECK(index >= 0 && index < size(), "ShardedDataset: sample ", index, " is outside the ", size(), " samples");
  const size_t shard = static_cast<size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), index) - offsets_.begin()) - 1;
  return {&shards_[shard], index - offsets_[shard]};
}

void ShardedDataset::check_labels_below(size_t array, int64_t classes, const std::string& source) const {
  const ArraySpec& spec = options_.arrays.at(array);
  TESSERA_CHECK(spec.labels, "dataset '", spec.name, "' is not read as class labels, so its labels were not checked");
  for (const Shard& shard : shards_) {
    io::check_labels_below(shard.largest_labels[array], classes, source, spec.name, shard.path,
                           spec.labels->ignore_index);
  }
}

std::string ShardedDataset::describe() const {
  std::ostringstream out;
  out << size() << " samples in " << shards_.size() << " file(s);";
  for (size_t a = 0; a < options_.arrays.size(); ++a) {
    out << " " << options_.arrays[a].name << ": " << h5::element_type_name(shards_[0].element_types[a]) << " "
        << shape_str(stored_sample_shapes_[a]);
    if (layouts_[a] == ImageLayout::nhwc) out << " (nhwc, read as " << shape_str(sample_shapes_[a]) << ")";
    out << " -> " << dtype_name(options_.arrays[a].dtype) << ";";
  }
  return out.str();
}

}  // namespace tessera::io
