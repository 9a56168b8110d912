// Dataset::check_virtual_sources_found: a virtual dataset (VDS) reads a source file HDF5 cannot find as fill values,
// silently (h5py too), so a missing shard would train as zeros. The files are looked for where HDF5 looks.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include "io/hdf5/error.h"
#include "io/hdf5/file.h"

namespace tessera::io::h5 {

namespace {

namespace fs = std::filesystem;

std::string virtual_string(hid_t plist, size_t index, ssize_t (*get)(hid_t, size_t, char*, size_t)) {
  const ssize_t length = get(plist, index, nullptr, 0);
  TESSERA_H5_CHECK(length, "cannot read mapping ", index, " of a virtual dataset");
  std::string text(static_cast<size_t>(length) + 1, '\0');
  get(plist, index, text.data(), text.size());
  text.resize(static_cast<size_t>(length));
  return text;
}

// The paths HDF5 1.10-1.14 tries for a source file named `name`, in its order (H5F_prefix_open_file): an absolute
// name as written, then its last component under each HDF5_VDS_PREFIX entry (':'-separated, ${ORIGIN} for the VDS
// file's folder), under the VDS file's folder, from the working folder, and under the VDS file's resolved folder.
std::vector<std::string> source_candidates(const std::string& vds_path, const std::string& name) {
  std::vector<std::string> paths;
  std::string rest = name;
  if (fs::path(name).is_absolute()) {
    paths.push_back(name);
    rest = fs::path(name).filename().string();
  }
  const fs::path vds_folder = fs::absolute(vds_path).parent_path();
  if (const char* prefixes = std::getenv("HDF5_VDS_PREFIX")) {
    std::istringstream entries(prefixes);
    for (std::string prefix; std::getline(entries, prefix, ':');) {
      if (prefix.empty()) continue;
      if (const size_t at = prefix.find("${ORIGIN}"); at != std::string::npos)
        prefix.replace(at, 9, vds_folder.string());
      paths.push_back((fs::path(prefix) / rest).string());
    }
  }
  paths.push_back((vds_folder / rest).string());
  paths.push_back(rest);
  std::error_code error;
  const fs::path resolved = fs::canonical(vds_path, error);
  if (!error) paths.push_back((resolved.parent_path() / rest).string());
  return paths;
}

std::string joined(const std::vector<std::string>& paths) {
  std::string text;
  for (const std::string& path : paths) text += (text.empty() ? "'" : ", '") + path + "'";
  return text;
}

}  // namespace

void Dataset::check_virtual_sources_found() const {
  PropertyListId plist(H5Dget_create_plist(id_.get()));
  TESSERA_H5_CHECK(plist.get(), "cannot read the storage layout of ", where());
  if (H5Pget_layout(plist.get()) != H5D_VIRTUAL) return;
  size_t mappings = 0;
  TESSERA_H5_CHECK(H5Pget_virtual_count(plist.get(), &mappings), "cannot read the mappings of virtual ", where());
  std::map<std::string, std::optional<File>> opened;  // by the name the mapping gives: many map one file
  for (size_t i = 0; i < mappings; ++i) {
    const std::string file_name = virtual_string(plist.get(), i, H5Pget_virtual_filename);
    const std::string dataset_name = virtual_string(plist.get(), i, H5Pget_virtual_dsetname);
    // printf-style names (%b) map an unlimited dimension onto files that may not exist yet; HDF5 resolves them.
    if (file_name.find('%') != std::string::npos || dataset_name.find('%') != std::string::npos) continue;
    auto [entry, added] = opened.try_emplace(file_name);
    if (added) {  // a file seen before was found then: a miss threw
      const std::vector<std::string> paths =
          file_name == "." ? std::vector<std::string>{file_path_} : source_candidates(file_path_, file_name);
      for (const std::string& path : paths) {
        try {
          entry->second = File::open_read_only(path);
          break;
        } catch (const Error&) {  // HDF5 goes on to the next place too
        }
      }
      TESSERA_CHECK(entry->second.has_value(), where(), " is a virtual dataset whose source file '", file_name,
                    "' (mapping ", i + 1, " of ", mappings, ") cannot be opened; looked for ", joined(paths),
                    ". HDF5 would read its part as fill values, silently: put the file there, or point "
                    "HDF5_VDS_PREFIX at its folder");
    }
    TESSERA_CHECK(entry->second->contains(dataset_name), where(), " is a virtual dataset whose source dataset '",
                  dataset_name, "' (mapping ", i + 1, " of ", mappings, ") is not in its source file '",
                  entry->second->path(), "'. HDF5 would read its part as fill values, silently");
  }
}

}  // namespace tessera::io::h5
