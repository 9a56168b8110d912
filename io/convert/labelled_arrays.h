#pragma once
// What every converter produces before it is written: a whole data set in memory as two row-major arrays x and y
// with the same first dimension, plus what the files should say about it (x's layout, class names, source).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "io/hdf5/element_type.h"

namespace tessera::io {

// One array of rows, row-major, elements of `type`.
struct RowArray {
  h5::ElementType type = h5::ElementType::f32;
  Shape shape;                 // first dimension: rows
  std::vector<uint8_t> bytes;  // shape_numel(shape) * element_type_size(type)

  static RowArray zeros(h5::ElementType type, Shape shape);
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  size_t row_bytes() const;
  template <typename T>
  T* data() {
    return reinterpret_cast<T*>(bytes.data());
  }
  // The given rows, in the given order.
  RowArray take(const std::vector<int64_t>& rows) const;
};

struct LabelledArrays {
  RowArray x, y;
  std::string x_layout;  // x's `layout` attribute ("N,C,H,W" for images; "N,F" for feature rows)
  std::string classes;   // y's `classes` attribute: class names separated by commas; empty: none written
  std::vector<std::pair<std::string, std::string>> attributes;  // of each file's root group (source, ...)
};

}  // namespace tessera::io
