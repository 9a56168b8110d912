#pragma once
// Class labels for a classification loss (cross_entropy), checked when a ShardedDataset is opened: every stored
// value must be a whole number (3.5 is an error, never truncated to 3) in [0, classes) or ignore_index. Why then:
// a bad label found by the loss names no file, and a test set's only after a whole training epoch; checked here
// every row of every shard is known good before the first batch, and an error names the file, dataset and row.
// A class count known only later (the model's number of outputs, once it is built on the data) is checked against
// the largest label found then (check_labels_below), so no label is read twice.
#include <cstdint>
#include <optional>
#include <string>

#include "io/hdf5/dataset.h"

namespace tessera::io {

struct LabelSpec {
  // Labels lie in [0, classes). 0: the count the label dataset declares in its `classes` attribute (an integer, or
  // the class names separated by commas, as `tessera data fashion-mnist` writes them); without one, only whole
  // numbers >= 0 are required.
  int64_t classes = 0;
  int64_t ignore_index = -100;  // also accepted: cross_entropy counts such a sample in no loss (PyTorch's default)
};

// The class count `labels` declares in its `classes` attribute, if it has one.
std::optional<int64_t> declared_classes(const h5::Dataset& labels);

// The largest label of a label array, ignore_index left out, and the first row holding it (-1, -1: none).
struct LargestLabel {
  int64_t value = -1;
  int64_t row = -1;
};

// Reads every value of `labels` and throws naming its file, dataset and row at the first one `spec` rejects.
LargestLabel check_labels(const h5::Dataset& labels, const LabelSpec& spec);

// Throws naming the file, dataset and row of `largest` when it is not below `classes`; `source` says where the
// count came from ("the model's 4 outputs").
void check_labels_below(const LargestLabel& largest, int64_t classes, const std::string& source,
                        const std::string& dataset, const std::string& file, int64_t ignore_index);

}  // namespace tessera::io
