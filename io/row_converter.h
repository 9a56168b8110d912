#pragma once
// Converts rows read from a file (any staging element type) into a tensor's dtype, applying an ArraySpec's
// scale / mean / std, and moves them from read order to batch order in the same pass. Images stored channels-last
// (H,W,C per row, ImageLayout::nhwc) are transposed to C,H,W in that pass too, so the model always sees N,C,H,W.
#include <utility>
#include <vector>

#include "io/hdf5/element_type.h"
#include "io/image_layout.h"
#include "io/sharded_dataset.h"

namespace tessera::io {

class RowConverter {
 public:
  // `stored_sample` is a row's shape in the file; `layout` (nchw or nhwc) how it keeps its channels.
  RowConverter(const ArraySpec& spec, const Shape& stored_sample, ImageLayout layout);

  // For each (source row, destination row) pair, converts one row of `from` elements in `src` into `dst`.
  void convert(h5::ElementType from, const void* src, void* dst,
               const std::vector<std::pair<int64_t, int64_t>>& moves) const;
  // True when rows of `from` are already the tensor's bytes (same type, no scaling): they can be read in place.
  bool passes_through(h5::ElementType from) const;
  // Per entry of dim 1 (channel or feature): value = stored * multipliers()[c] + offsets()[c] (`tessera export
  // --with-preprocessing` writes the same into its graph).
  const std::vector<double>& multipliers() const { return multiplier_; }
  const std::vector<double>& offsets() const { return offset_; }
  bool channels_last() const { return channels_last_; }

 private:
  DType to_;
  int64_t channels_ = 1;  // entries of dim 1 (1 for samples of rank 0)
  int64_t inner_ = 1;     // elements per channel
  bool identity_ = true;  // scale 1, mean 0, std 1: a plain cast
  bool channels_last_ = false;  // rows stored H,W,C: element (p, c) goes to c * inner_ + p
  std::vector<double> multiplier_, offset_;  // per channel: value = stored * multiplier + offset
};

}  // namespace tessera::io
