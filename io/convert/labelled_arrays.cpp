#include "io/convert/labelled_arrays.h"

#include <cstring>

#include "core/check.h"

namespace tessera::io {

RowArray RowArray::zeros(h5::ElementType type, Shape shape) {
  RowArray array{.type = type, .shape = std::move(shape)};
  array.bytes.resize(static_cast<size_t>(shape_numel(array.shape)) * h5::element_type_size(type));
  return array;
}

size_t RowArray::row_bytes() const {
  const Shape row(shape.begin() + (shape.empty() ? 0 : 1), shape.end());
  return static_cast<size_t>(shape_numel(row)) * h5::element_type_size(type);
}

void RowArray::read_rows(const int64_t* rows, size_t count, uint8_t* out) const {
  for (size_t i = 0; i < count; ++i) {
    TESSERA_CHECK(rows[i] >= 0 && rows[i] < this->rows(), "RowArray: row ", rows[i], " of ", this->rows());
  }
  const size_t row = row_bytes();
  if (file) return file->read(rows, count, row, out);
  for (size_t i = 0; i < count; ++i) std::memcpy(out + i * row, bytes.data() + static_cast<size_t>(rows[i]) * row, row);
}

}  // namespace tessera::io
