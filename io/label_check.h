#pragma once
// Class labels for a classification loss (cross_entropy), checked when a ShardedDataset is opened: every stored
// value must be a whole number (3.5 is an error, never truncated to 3) in [0, classes) or ignore_index. Why then:
// a bad label found by the loss names no file, and a test set's only after a whole training epoch; checked here
// every row of every shard is known good before the first batch, and an error names the file, dataset and row.
#include <cstdint>
#include <optional>

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

// Reads every value of `labels` and throws naming its file, dataset and row at the first one `spec` rejects.
void check_labels(const h5::Dataset& labels, const LabelSpec& spec);

}  // namespace tessera::io
