#pragma once
// Batch: what the Loader hands to training. Named tensors (batch["x"], batch["y"]), each with the batch as its
// first dimension, the global sample index of every entry, and a validity mask: in evaluation mode the last
// batches of some ranks are padded with repeated samples that must not count towards metrics.
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tessera::io {

struct Batch {
  std::vector<std::string> names;
  std::vector<Tensor> tensors;   // tensors[i] holds the array names[i]
  std::vector<int64_t> indices;  // global sample index of each entry
  Tensor valid;                  // bool (size()): false for padding entries
  int64_t valid_count = 0;       // number of true entries in `valid`

  int64_t size() const { return static_cast<int64_t>(indices.size()); }
  const Tensor& operator[](const std::string& name) const;  // error naming the arrays the batch has
};

}  // namespace tessera::io
