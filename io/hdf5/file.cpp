#include "io/hdf5/file.h"

#include <sys/stat.h>

#include <sstream>

#include "io/hdf5/error.h"

namespace tessera::io::h5 {

namespace {
bool library_is_thread_safe() {
  hbool_t threadsafe = 0;
  H5is_library_threadsafe(&threadsafe);
  return threadsafe;
}
}  // namespace

std::string library_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return "HDF5 " + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release) +
         (library_is_thread_safe() ? " (thread-safe)" : "");
}

void require_thread_safe_library(const char* who) {
  TESSERA_CHECK(library_is_thread_safe(), who, ": ", library_version(), " is not a thread-safe build, and the "
                "loader's reader thread calls HDF5 while other threads do (another loader, checkpoints): link a "
                "thread-safe HDF5 (configured with --enable-threadsafe; Debian's libhdf5-dev is one)");
}

File File::open_read_only(const std::string& path) {
  silence_errors();
  struct stat info {};
  TESSERA_CHECK(::stat(path.c_str(), &info) == 0, "file '", path, "' does not exist");
  TESSERA_CHECK(S_ISREG(info.st_mode), "'", path, "' is not a regular file");
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  TESSERA_CHECK(is_hdf5 != 0, "file '", path, "' is not an HDF5 file (no HDF5 signature)");
  TESSERA_H5_CHECK(is_hdf5, "cannot open HDF5 file '", path, "'");
  // Random rows of contiguous datasets go through HDF5's sieve buffer: the default 64 KiB reads 64 KiB per row;
  // 8 KiB measured 1.7x faster for shuffled Fashion-MNIST batches. Reads larger than it bypass it anyway.
  PropertyListId access(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_sieve_buf_size(access.get(), 8192);
  FileId id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, access.get()));
  std::string details = id.get() < 0 ? error_stack_text() : "";
  // A file in HDF5's latest format (h5py libver="latest") is marked "open for write" while a writer has it open, and
  // stays so when the writer dies. A SWMR writer (h5py swmr_mode = True) allows SWMR readers, as h5py's swmr=True.
  const bool marked_open = details.find("already open for write") != std::string::npos;
  if (marked_open) {
    id = FileId(H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, access.get()));
    if (id.get() < 0) H5Eclear2(H5E_DEFAULT);
  }
  if (id.get() < 0) {
    // HDF5 locks a file its writer holds open: that is no corruption, and the usual cause is a writer still running.
    TESSERA_THROW("cannot open HDF5 file '", path, "' (",
                  details.find("lock") != std::string::npos
                      ? "locked: another process holds it open for writing (a converter or an h5py session still "
                        "writing it?); once its writer is done it opens, and HDF5_USE_FILE_LOCKING=FALSE skips the lock"
                  : marked_open
                      ? "marked as open for writing: a writer (h5py with libver=\"latest\") still has it open, or died "
                        "without closing it; once no writer is left, `h5clear -s FILE` clears the mark"
                      : "corrupt or truncated?",
                  ") (HDF5: ", details, ")");
  }
  return File(std::move(id), path);
}

File File::create(const std::string& path) {
  silence_errors();
  FileId id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  TESSERA_H5_CHECK(id.get(), "cannot create HDF5 file '", path, "'");
  return File(std::move(id), path);
}

File File::create_in_memory(const std::string& name) {
  silence_errors();
  PropertyListId access(H5Pcreate(H5P_FILE_ACCESS));
  TESSERA_H5_CHECK(H5Pset_fapl_core(access.get(), size_t{1} << 20, /*backing_store=*/0),
                   "cannot set up an in-memory HDF5 file for '", name, "'");
  FileId id(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()));
  TESSERA_H5_CHECK(id.get(), "cannot create the in-memory HDF5 file for '", name, "'");
  return File(std::move(id), name);
}

FileImage File::image() const {
  const PropertyListId access(H5Fget_access_plist(id_.get()));
  TESSERA_CHECK(H5Pget_driver(access.get()) == H5FD_CORE, "HDF5 file '", path_, "' is not an in-memory file");
  flush();
  const ssize_t size = H5Fget_file_image(id_.get(), nullptr, 0);  // the end of allocated space
  TESSERA_H5_CHECK(size, "cannot get the image of HDF5 file '", path_, "'");
  H5F_info2_t info;
  TESSERA_H5_CHECK(H5Fget_info2(id_.get(), &info), "cannot get the image of HDF5 file '", path_, "'");
  // The file consistency flags (file format specification): 4 bytes at 20 in superblock versions 0 and 1, 1 byte at
  // 11 in later ones. A file open for writing has them set; its image, like a closed file, has them clear.
  const size_t flags_at = info.super.version >= 2 ? 11 : 20;
  const size_t flags_size = info.super.version >= 2 ? 1 : 4;
  TESSERA_CHECK(static_cast<size_t>(size) >= flags_at + flags_size, "HDF5 file '", path_, "' has no superblock");
  // The core driver's handle is the address of its buffer pointer (H5FD__core_get_handle).
  void* handle = nullptr;
  TESSERA_H5_CHECK(H5Fget_vfd_handle(id_.get(), H5P_DEFAULT, &handle), "cannot get the image of HDF5 file '", path_,
                   "'");
  const char* memory = *static_cast<const char* const*>(handle);
  FileImage image{.head = std::vector<char>(memory, memory + flags_at + flags_size)};
  std::fill(image.head.begin() + static_cast<std::ptrdiff_t>(flags_at), image.head.end(), 0);
  image.rest = {memory + image.head.size(), static_cast<size_t>(size) - image.head.size()};
  return image;
}

void File::flush() const {
  TESSERA_H5_CHECK(H5Fflush(id_.get(), H5F_SCOPE_GLOBAL), "cannot write HDF5 file '", path_, "'");
}

bool File::contains(const std::string& name) const {
  // H5Lexists needs every intermediate group to exist: check the path one component at a time.
  size_t end = 0;
  while (end != std::string::npos) {
    end = name.find('/', end + 1);
    const std::string prefix = name.substr(0, end);
    if (H5Lexists(id_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

Dataset File::open_dataset(const std::string& name, const ChunkCache& cache, bool numbers_only) const {
  if (!contains(name)) {
    std::ostringstream names;
    for (const auto& existing : dataset_names()) names << (names.tellp() > 0 ? ", " : "") << "'" << existing << "'";
    TESSERA_THROW("dataset '", name, "' not found in file '", path_, "' (it has: ", names.str(), ")");
  }
  PropertyListId access(H5Pcreate(H5P_DATASET_ACCESS));
  H5Pset_chunk_cache(access.get(), cache.slots, cache.bytes, 1.0);
  DatasetId id(H5Dopen2(id_.get(), name.c_str(), access.get()));
  TESSERA_H5_CHECK(id.get(), "cannot open dataset '", name, "' of file '", path_, "'");
  return Dataset(std::move(id), path_, name, numbers_only);
}

Dataset File::create_dataset(const std::string& name, ElementType type, const Shape& shape,
                             const DatasetCreation& creation) const {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  DataspaceId space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  PropertyListId create(H5Pcreate(H5P_DATASET_CREATE));
  if (!creation.chunk.empty()) {
    std::vector<hsize_t> chunk(creation.chunk.begin(), creation.chunk.end());
    TESSERA_H5_CHECK(H5Pset_chunk(create.get(), static_cast<int>(chunk.size()), chunk.data()),
                     "bad chunk shape for dataset '", name, "' of file '", path_, "'");
    if (creation.shuffle) H5Pset_shuffle(create.get());
    if (creation.gzip_level >= 0) H5Pset_deflate(create.get(), static_cast<unsigned>(creation.gzip_level));
  }
  DatasetId id(H5Dcreate2(id_.get(), name.c_str(), native_memory_type(type), space.get(), H5P_DEFAULT, create.get(),
                          H5P_DEFAULT));
  TESSERA_H5_CHECK(id.get(), "cannot create dataset '", name, "' in file '", path_, "'");
  return Dataset(std::move(id), path_, name);
}

std::vector<std::string> File::dataset_names() const {
  std::vector<std::string> names;
  // Links, not objects: H5Ovisit skips datasets that external links (h5py.ExternalLink) point to.
  auto visit = [](hid_t group, const char* name, const H5L_info_t*, void* data) -> herr_t {
    H5O_info_t info;
    if (H5Oget_info_by_name2(group, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 && info.type == H5O_TYPE_DATASET)
      static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    H5Eclear2(H5E_DEFAULT);  // a dangling link is listed by nobody
    return 0;
  };
  H5Lvisit(id_.get(), H5_INDEX_NAME, H5_ITER_INC, visit, &names);
  return names;
}

void write_attribute(hid_t object, const std::string& name, const std::string& value) {
  // Variable-length UTF-8, as h5py writes Python strings, so that h5py reads them back as str.
  DatatypeId type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  DataspaceId space(H5Screate(H5S_SCALAR));
  AttributeId attribute(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  TESSERA_H5_CHECK(attribute.get(), "cannot create attribute '", name, "'");
  const char* text = value.c_str();
  TESSERA_H5_CHECK(H5Awrite(attribute.get(), type.get(), &text), "cannot write attribute '", name, "'");
}

void write_attribute(hid_t object, const std::string& name, int64_t value) {
  DataspaceId space(H5Screate(H5S_SCALAR));
  AttributeId attribute(H5Acreate2(object, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  TESSERA_H5_CHECK(attribute.get(), "cannot create attribute '", name, "'");
  TESSERA_H5_CHECK(H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value), "cannot write attribute '", name, "'");
}

namespace {

// The attribute `name` of `object`, or nothing when it has none.
std::optional<AttributeId> open_attribute(hid_t object, const std::string& name) {
  const htri_t exists = H5Aexists(object, name.c_str());
  TESSERA_H5_CHECK(exists, "cannot look up attribute '", name, "'");
  if (exists == 0) return std::nullopt;
  AttributeId attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  TESSERA_H5_CHECK(attribute.get(), "cannot open attribute '", name, "'");
  return attribute;
}

}  // namespace

std::optional<int64_t> read_int64_attribute(hid_t object, const std::string& name) {
  const std::optional<AttributeId> attribute = open_attribute(object, name);
  if (!attribute) return std::nullopt;
  // H5Aread writes every element: an array attribute (attrs["classes"] = np.arange(10)) would overrun `value`.
  DataspaceId space(H5Aget_space(attribute->get()));
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  TESSERA_CHECK(count == 1, "attribute '", name, "' holds ", count, " values; expected one integer");
  int64_t value = 0;
  TESSERA_H5_CHECK(H5Aread(attribute->get(), H5T_NATIVE_INT64, &value), "cannot read attribute '", name,
                   "' as an integer");
  return value;
}

namespace {

// The text of a scalar string attribute of type `type` (variable or fixed length); nothing when it cannot be read.
std::optional<std::string> string_value(hid_t attribute, hid_t type) {
  if (H5Tis_variable_str(type) > 0) {
    char* text = nullptr;
    if (H5Aread(attribute, type, &text) < 0 || !text) return std::nullopt;
    std::string value(text);
    H5free_memory(text);
    return value;
  }
  std::string value(H5Tget_size(type), '\0');
  if (H5Aread(attribute, type, value.data()) < 0) return std::nullopt;
  return value.substr(0, value.find('\0'));
}

// "v" or "[v1, v2, ...]": an attribute's `count` numbers read as T.
template <typename T>
std::string numbers_text(hid_t attribute, hid_t memory_type, hssize_t count) {
  std::vector<T> values(static_cast<size_t>(count));
  if (H5Aread(attribute, memory_type, values.data()) < 0) return "?";
  std::ostringstream out;
  if (count > 1) out << "[";
  for (size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  if (count > 1) out << "]";
  return out.str();
}

std::string attribute_value(hid_t attribute) {
  DatatypeId type(H5Aget_type(attribute));
  DataspaceId space(H5Aget_space(attribute));
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class == H5T_STRING && count == 1) return string_value(attribute, type.get()).value_or("?");
  if (count >= 1 && count <= 16) {
    // Integers read as integers: as doubles, 1234567 prints 1.23457e+06.
    if (type_class == H5T_INTEGER && H5Tget_sign(type.get()) != H5T_SGN_NONE)
      return numbers_text<int64_t>(attribute, H5T_NATIVE_INT64, count);
    if (type_class == H5T_INTEGER) return numbers_text<uint64_t>(attribute, H5T_NATIVE_UINT64, count);
    if (type_class == H5T_FLOAT) return numbers_text<double>(attribute, H5T_NATIVE_DOUBLE, count);
  }
  return "(" + std::to_string(count) + " values)";
}

}  // namespace

std::optional<std::string> read_string_attribute(hid_t object, const std::string& name) {
  const std::optional<AttributeId> attribute = open_attribute(object, name);
  if (!attribute) return std::nullopt;
  DatatypeId type(H5Aget_type(attribute->get()));
  DataspaceId space(H5Aget_space(attribute->get()));
  if (H5Tget_class(type.get()) != H5T_STRING || H5Sget_simple_extent_npoints(space.get()) != 1) return std::nullopt;
  return string_value(attribute->get(), type.get());
}

std::vector<std::pair<std::string, std::string>> read_attributes(hid_t object) {
  std::vector<std::pair<std::string, std::string>> result;
  auto visit = [](hid_t location, const char* name, const H5A_info_t*, void* data) -> herr_t {
    AttributeId attribute(H5Aopen(location, name, H5P_DEFAULT));
    static_cast<std::vector<std::pair<std::string, std::string>>*>(data)->emplace_back(
        name, attribute.valid() ? attribute_value(attribute.get()) : "?");
    return 0;
  };
  hsize_t index = 0;
  H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, visit, &result);
  return result;
}

}  // namespace tessera::io::h5
