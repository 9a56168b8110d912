#pragma once
// One open HDF5 dataset: its shape, element type, storage layout and filters, and reads of whole rows (ranges of
// the first dimension). Every error names the dataset and its file.
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/hdf5/element_type.h"
#include "io/hdf5/handle.h"

namespace tessera::io::h5 {

// Rows [start, start + length) of a dataset's first dimension.
struct Run {
  int64_t start = 0;
  int64_t length = 0;
};

struct FilterInfo {
  std::string name;             // "gzip", "shuffle", "fletcher32", "szip", "scaleoffset", "nbit", or HDF5's name
  std::vector<unsigned> values;  // the filter's client data (gzip: {level})
};

// How a new dataset is stored. An empty chunk shape means contiguous (and then no filters).
struct DatasetCreation {
  Shape chunk;
  int gzip_level = -1;  // -1: no compression; 0-9: deflate level
  bool shuffle = false;
};

// The raw-data chunk cache of one open dataset (H5Pset_chunk_cache); HDF5's defaults. The Loader keeps its own
// cache of decoded row blocks (io/block_cache.h), so HDF5's only serves reads that bypass it.
struct ChunkCache {
  size_t bytes = size_t{1} << 20;
  size_t slots = 521;
};

class Dataset {
 public:
  // numbers_only: throw (naming the dataset and what it holds) unless its elements are integers or floats;
  // otherwise (inspect) element_type() is meaningless for a non-numeric dataset and type_name() says what it is.
  Dataset(DatasetId id, std::string file_path, std::string name, bool numbers_only = true);

  const std::string& name() const { return name_; }
  const std::string& file_path() const { return file_path_; }
  std::string where() const;  // "dataset 'x' of file 'a.h5'"
  const Shape& shape() const { return shape_; }
  ElementType element_type() const { return element_type_; }
  const std::string& type_name() const { return type_name_; }  // "f32", "string (3 bytes)", ...
  std::string layout() const;   // "contiguous", "chunked", "compact" or "virtual"
  Shape chunk() const;          // empty unless chunked
  std::vector<FilterInfo> filters() const;
  // Throws, naming the dataset, its file and the filter, when a filter its data was written with (h5py's lzf, a
  // plugin, szip without libaec) cannot be decoded by this HDF5 library: found when the dataset is opened, not at
  // its first read (for a test set, after a whole training epoch), and with the filter's name.
  void check_filters_available() const;
  // Throws, naming the dataset and the source, when a virtual dataset's source file or dataset cannot be found
  // where HDF5 looks (HDF5 and h5py read that part as fill values, silently). Nothing for other layouts.
  void check_virtual_sources_found() const;
  hid_t id() const { return id_.get(); }

  // Reads the rows of `runs` (sorted, disjoint, in range), packed in run order into `out`, each element as
  // native_memory_type(memory): one OR-ed selection and one H5Dread for contiguous datasets, one regular hyperslab
  // read per run for chunked ones (see the .cpp for why).
  void read_runs(const std::vector<Run>& runs, ElementType memory, void* out) const;
  // Writes the whole dataset from `data` (row-major, elements of type `memory`).
  void write_all(ElementType memory, const void* data) const;
  // Writes rows first..first+count from `data` (one hyperslab; a writer that streams its input slab by slab).
  void write_rows(int64_t first, int64_t count, ElementType memory, const void* data) const;

 private:
  DatasetId id_;
  std::string file_path_;
  std::string name_;
  Shape shape_;
  ElementType element_type_ = ElementType::u8;
  std::string type_name_;
  bool chunked_ = false;
};

}  // namespace tessera::io::h5
