#pragma once
// ShardedDataset: one global index space over named arrays stored in one or more HDF5 files. Construction reads
// metadata only and checks everything it can up front, so bad input fails before training starts, with an error
// naming the file and dataset.
//
// Invariants (checked at construction):
//  - every file holds every array, with at least one row, and all arrays of a file have the same first dimension;
//  - an array has the same sample shape (dims after the first) in every file, and the rank asked for, if any;
//  - an array's layout (ArraySpec::layout, automatic resolved) is the same in every file; sample_shape() is the
//    shape a model sees (C,H,W for an nhwc array), stored_sample_shape() the file's;
//  - every row of an array marked as class labels is a whole class index (io/label_check.h);
//  - shards are in the order given (globs expanded and sorted); global index i lives in the shard s with
//    offsets()[s] <= i < offsets()[s + 1].
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "io/hdf5/element_type.h"
#include "io/image_layout.h"
#include "io/label_check.h"

namespace tessera::io {

// One named array read from every file, and how its values become a tensor:
//   value = (stored * scale - mean[c]) / std[c],  c = index along dim 1 (the channel or feature),
// mean and std have 1 or dim-1-size entries; empty means 0 and 1. Integer results are truncated toward zero, except
// for class labels (`labels`), which are checked to be whole class indices in every row when the dataset is opened
// (io/label_check.h; io::LoaderBatchSource marks an integer y as labels).
struct ArraySpec {
  std::string name;
  DType dtype = DType::f32;
  int64_t rank = -1;  // required rank of the stored dataset, sample dim included (4 for N,C,H,W); -1: any
  double scale = 1.0;
  std::vector<double> mean{};
  std::vector<double> std{};
  std::optional<LabelSpec> labels{};
  // How a rank-4 array keeps its channels (io/image_layout.h): nhwc arrays are read as N,C,H,W; automatic decides
  // per dataset (its `layout` attribute, else the shape), the same way in every file.
  ImageLayout layout = ImageLayout::nchw;
  // Where scale, mean and std were given, named in their errors ("data" for a training config: "data.mean has 2
  // values"); empty: "mean".
  std::string key{};
};

struct DatasetOptions {
  std::vector<std::string> files;  // paths and glob patterns ('*', '?', '['), in order
  std::vector<ArraySpec> arrays = {{.name = "x"}, {.name = "y", .dtype = DType::i64}};
  // Reject a sample whose floating arrays hold NaN or infinity, naming the file and row, when its batch is read:
  // one bad pixel would otherwise turn weights into NaN many steps later.
  bool check_finite = false;
};

struct Shard {
  std::string path;
  int64_t rows = 0;
  std::vector<h5::ElementType> element_types{};  // per array, as stored in this file
  std::vector<LargestLabel> largest_labels{};    // per array: for class labels, the largest and its row
};

class ShardedDataset {
 public:
  explicit ShardedDataset(DatasetOptions options);

  int64_t size() const { return offsets_.back(); }
  const std::vector<Shard>& shards() const { return shards_; }
  const std::vector<int64_t>& offsets() const { return offsets_; }  // shards().size() + 1 entries
  const std::vector<ArraySpec>& arrays() const { return options_.arrays; }
  bool check_finite() const { return options_.check_finite; }
  // The file and row of global sample `index`.
  std::pair<const Shard*, int64_t> locate(int64_t index) const;
  const Shape& sample_shape(size_t array) const { return sample_shapes_[array]; }  // as the model sees it
  const Shape& stored_sample_shape(size_t array) const { return stored_sample_shapes_[array]; }
  ImageLayout layout(size_t array) const { return layouts_[array]; }  // nchw or nhwc, never automatic
  int64_t sample_numel(size_t array) const { return shape_numel(sample_shapes_[array]); }
  // "'x', 'y'": used in messages so every error names the datasets involved.
  std::string array_names() const;
  std::string describe() const;  // shards, rows and arrays, for logs
  // Every label of `array` (checked as class labels when opened) lies below `classes`; else an error naming the
  // file, dataset and row of the largest. `source` says where the count came from ("the model's 4 outputs").
  void check_labels_below(size_t array, int64_t classes, const std::string& source) const;

 private:
  DatasetOptions options_;
  std::vector<Shard> shards_;
  std::vector<int64_t> offsets_{0};
  std::vector<Shape> sample_shapes_, stored_sample_shapes_;
  std::vector<ImageLayout> layouts_;
};

// Paths and glob patterns -> paths: patterns expanded (sorted), plain paths kept as given. A pattern that
// matches nothing is an error naming it and `what` (the datasets wanted), and so is a file reached twice (overlapping
// patterns, or one file under two spellings).
std::vector<std::string> expand_file_patterns(const std::vector<std::string>& patterns, const std::string& what);

}  // namespace tessera::io
