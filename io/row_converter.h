#pragma once
// Converts rows read from a file (any staging element type) into a tensor's dtype, applying an ArraySpec's
// scale / mean / std, and moves them from read order to batch order in the same pass.
#include <utility>
#include <vector>

#include "io/hdf5/element_type.h"
#include "io/sharded_dataset.h"

namespace tessera::io {

class RowConverter {
 public:
  RowConverter(const ArraySpec& spec, const Shape& sample_shape);

  // For each (source row, destination row) pair, converts one row of `from` elements in `src` into `dst`.
  void convert(h5::ElementType from, const void* src, void* dst,
               const std::vector<std::pair<int64_t, int64_t>>& moves) const;
  // True when rows of `from` are already the tensor's bytes (same type, no scaling): they can be read in place.
  bool passes_through(h5::ElementType from) const;

 private:
  DType to_;
  int64_t channels_ = 1;  // entries of dim 1 (1 for samples of rank 0)
  int64_t inner_ = 1;     // elements per channel
  bool identity_ = true;  // scale 1, mean 0, std 1: a plain cast
  std::vector<double> multiplier_, offset_;  // per channel: value = stored * multiplier + offset
};

}  // namespace tessera::io
