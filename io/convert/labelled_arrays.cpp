#include "io/convert/labelled_arrays.h"

#include <cstring>

#include "core/check.h"

namespace tessera::io {

RowArray RowArray::zeros(h5::ElementType type, Shape shape) {
  RowArray array{.type = type, .shape = std::move(shape)};
  array.bytes.resize(static_cast<size_t>(shape_numel(array.shape)) * h5::element_type_size(type));
  return array;
}

size_t RowArray::row_bytes() const { return rows() == 0 ? 0 : bytes.size() / static_cast<size_t>(rows()); }

RowArray RowArray::take(const std::vector<int64_t>& rows) const {
  Shape taken_shape = shape;
  taken_shape[0] = static_cast<int64_t>(rows.size());
  RowArray taken = zeros(type, taken_shape);
  const size_t row = row_bytes();
  for (size_t i = 0; i < rows.size(); ++i) {
    TESSERA_CHECK(rows[i] >= 0 && rows[i] < this->rows(), "RowArray::take: row ", rows[i], " of ", this->rows());
    std::memcpy(taken.bytes.data() + i * row, bytes.data() + static_cast<size_t>(rows[i]) * row, row);
  }
  return taken;
}

}  // namespace tessera::io
