#include "io/label_check.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "io/hdf5/file.h"

namespace tessera::io {

std::optional<int64_t> declared_classes(const h5::Dataset& labels) {
  if (const auto names = h5::read_string_attribute(labels.id(), "classes"))
    return 1 + std::count(names->begin(), names->end(), ',');
  try {
    return h5::read_int64_attribute(labels.id(), "classes");  // a number (HDF5 converts), or nothing
  } catch (const Error& e) {
    TESSERA_THROW(labels.where(), ": its 'classes' attribute must be the class count or the class names separated by",
                  " commas (", e.message(), ")");
  }
}

namespace {

std::string row_of(int64_t row, const std::string& dataset, const std::string& file) {
  return "row " + std::to_string(row) + " of dataset '" + dataset + "' in file '" + file + "'";
}

[[noreturn]] void throw_outside(const std::string& where, double value, const std::string& range,
                                const std::string& source, int64_t ignore_index) {
  TESSERA_THROW(where, " holds the class label ", value, ", outside ", range, source,
                "; class labels must be class indices or ignore_index ", ignore_index);
}

}  // namespace

LargestLabel check_labels(const h5::Dataset& labels, const LabelSpec& spec) {
  const std::optional<int64_t> declared = spec.classes > 0 ? std::optional(spec.classes) : declared_classes(labels);
  TESSERA_CHECK(!declared || *declared > 0, labels.where(), ": the class count must be positive, got ", *declared);
  const int64_t rows = labels.shape().empty() ? 0 : labels.shape()[0];
  const Shape& shape = labels.shape();
  const int64_t per_row = shape.empty() ? 1 : shape_numel(Shape(shape.begin() + 1, shape.end()));
  if (per_row == 0) return {};  // rows of no labels
  // A slab of rows at a time (about 1 Mi values, 8 MiB as f64; whole chunks, so none is decompressed twice): the
  // whole dataset as f64 is 8x a u8 label set, 16 GiB for 2^31 class indices or for (n, 512, 512) segmentation
  // masks of 8,192 images, read on every rank when the shards are opened.
  int64_t slab_rows = std::max<int64_t>(1, (int64_t{1} << 20) / per_row);
  if (const Shape chunk = labels.chunk(); !chunk.empty()) slab_rows = (slab_rows + chunk[0] - 1) / chunk[0] * chunk[0];
  std::vector<double> values;
  LargestLabel largest;
  for (int64_t first = 0; first < rows; first += slab_rows) {
    const int64_t count = std::min(slab_rows, rows - first);
    values.resize(static_cast<size_t>(count * per_row));
    labels.read_runs({{first, count}}, h5::ElementType::f64, values.data());  // HDF5 converts any stored type
    for (size_t i = 0; i < values.size(); ++i) {
      const double v = values[i];
      const int64_t row = first + static_cast<int64_t>(i) / per_row;
      const bool whole = std::isfinite(v) && v == std::trunc(v);
      const bool ignored = v == static_cast<double>(spec.ignore_index);
      // Below 2^63 too: a larger u64 (2^64 - 1, a -1 stored unsigned) would not fit the i64 the loader makes of it.
      const bool in_range = ignored || (v >= 0 && v < 0x1p63 && (!declared || v < *declared));
      if (whole && in_range) {
        if (!ignored && v > static_cast<double>(largest.value)) largest = {static_cast<int64_t>(v), row};
        continue;
      }
      const std::string where = row_of(row, labels.name(), labels.file_path());
      TESSERA_CHECK(whole, where, " holds the class label ", v, "; class labels must be whole numbers");
      const std::string range = declared ? "[0, " + std::to_string(*declared) + ")" : v < 0 ? ">= 0" : "[0, 2^63)";
      const std::string source = !declared          ? ""
                                 : spec.classes > 0 ? " (the classes asked for)"
                                                    : " (its 'classes' attribute)";
      throw_outside(where, v, range, source, spec.ignore_index);
    }
  }
  return largest;
}

void check_labels_below(const LargestLabel& largest, int64_t classes, const std::string& source,
                        const std::string& dataset, const std::string& file, int64_t ignore_index) {
  if (largest.value < classes) return;
  throw_outside(row_of(largest.row, dataset, file), static_cast<double>(largest.value),
                "[0, " + std::to_string(classes) + ")", " (" + source + ")", ignore_index);
}

}  // namespace tessera::io
