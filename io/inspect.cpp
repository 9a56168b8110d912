#include "io/inspect.h"

#include <sstream>

#include "io/hdf5/file.h"

namespace tessera::io {

FileSummary inspect_file(const std::string& path) {
  const h5::File file = h5::File::open_read_only(path);
  FileSummary summary{.path = path, .attributes = h5::read_attributes(file.id())};
  for (const std::string& name : file.dataset_names()) {
    const h5::Dataset dataset = file.open_dataset(name, {}, /*numbers_only=*/false);
    summary.datasets.push_back({.name = name,
                                .shape = dataset.shape(),
                                .element_type = dataset.type_name(),
                                .layout = dataset.layout(),
                                .chunk = dataset.chunk(),
                                .filters = dataset.filters(),
                                .attributes = h5::read_attributes(dataset.id())});
  }
  return summary;
}

std::string format_summary(const FileSummary& summary) {
  std::ostringstream out;
  out << summary.path << "\n";
  for (const auto& [name, value] : summary.attributes) out << "  @" << name << " = " << value << "\n";
  for (const DatasetSummary& d : summary.datasets) {
    out << "  " << d.name << "  shape " << shape_str(d.shape) << "  " << d.element_type << "  " << d.layout;
    if (!d.chunk.empty()) out << " " << shape_str(d.chunk);
    out << "  filters ";
    if (d.filters.empty()) out << "none";
    for (size_t i = 0; i < d.filters.size(); ++i) {
      out << (i ? "," : "") << d.filters[i].name;
      if (d.filters[i].name == "gzip" && !d.filters[i].values.empty()) out << "(" << d.filters[i].values[0] << ")";
    }
    out << "\n";
    for (const auto& [name, value] : d.attributes) out << "    @" << name << " = " << value << "\n";
  }
  return out.str();
}

}  // namespace tessera::io
