#pragma once
// What every converter produces before it is written: a data set as two row-major arrays x and y with the same
// first dimension, plus what the files should say about it (x's layout, class names, source). An array is held in
// memory, or (an .npy file's) left in its file and read slab by slab as the shards are written, so a source larger
// than memory converts.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "io/hdf5/element_type.h"

namespace tessera::io {

// Rows left in a file, read on demand.
class RowFile {
 public:
  virtual ~RowFile() = default;
  // Reads `count` rows of `row_bytes` each, rows[0] first, into `out` (rows ascending read fastest).
  virtual void read(const int64_t* rows, size_t count, size_t row_bytes, uint8_t* out) const = 0;
};

// One array of rows, row-major, elements of `type`.
struct RowArray {
  h5::ElementType type = h5::ElementType::f32;
  Shape shape;                 // first dimension: rows
  std::vector<uint8_t> bytes;  // shape_numel(shape) * element_type_size(type); empty when `file` holds the rows
  std::shared_ptr<const RowFile> file{};

  static RowArray zeros(h5::ElementType type, Shape shape);
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  size_t row_bytes() const;
  template <typename T>
  T* data() {
    return reinterpret_cast<T*>(bytes.data());
  }
  // Copies `count` rows, rows[0] first, into `out` (count * row_bytes() bytes), from memory or the file.
  void read_rows(const int64_t* rows, size_t count, uint8_t* out) const;
};

struct LabelledArrays {
  RowArray x, y;
  std::string x_layout;  // x's `layout` attribute ("N,C,H,W" for images; "N,F" for feature rows)
  std::string classes;   // y's `classes` attribute: class names separated by commas; empty: none written
  std::vector<std::pair<std::string, std::string>> attributes;  // of each file's root group (source, ...)
};

}  // namespace tessera::io
