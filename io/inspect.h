#pragma once
// What an HDF5 file holds, for `tessera data inspect`: each dataset's shape, element type, layout, chunking,
// filters and attributes.
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "io/hdf5/dataset.h"

namespace tessera::io {

struct DatasetSummary {
  std::string name;
  Shape shape;
  std::string element_type;
  std::string layout;
  Shape chunk;  // empty unless chunked
  std::vector<h5::FilterInfo> filters;
  std::vector<std::pair<std::string, std::string>> attributes;
};

struct FileSummary {
  std::string path;
  std::vector<std::pair<std::string, std::string>> attributes;  // of the root group
  std::vector<DatasetSummary> datasets{};
};

FileSummary inspect_file(const std::string& path);
std::string format_summary(const FileSummary& summary);  // a few human-readable lines

}  // namespace tessera::io
