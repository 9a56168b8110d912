#include "io/convert/npy.h"

#include <fcntl.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

#include "core/check.h"

namespace tessera::io {

namespace {

// The value of `key` in the header's dict literal, up to its closing ',' or '}' (or ')' for the shape tuple).
std::string header_value(const std::string& header, const std::string& key, const std::string& name) {
  const size_t at = header.find("'" + key + "'");
  TESSERA_CHECK(at != std::string::npos, "'", name, "': its .npy header has no '", key, "' (header: ", header, ")");
  size_t begin = header.find(':', at);
  TESSERA_CHECK(begin != std::string::npos, "'", name, "': malformed .npy header: ", header);
  begin = header.find_first_not_of(' ', begin + 1);
  const size_t end = header[begin] == '(' ? header.find(')', begin) + 1 : header.find_first_of(",}", begin);
  TESSERA_CHECK(end != std::string::npos && end > begin, "'", name, "': malformed .npy header: ", header);
  return header.substr(begin, end - begin);
}

h5::ElementType element_type_of_descr(const std::string& descr, const std::string& name) {
  const std::string code = descr.size() >= 2 ? descr.substr(1) : descr;
  static const std::pair<const char*, h5::ElementType> types[] = {
      {"b1", h5::ElementType::u8},  {"u1", h5::ElementType::u8},  {"i1", h5::ElementType::i8},
      {"u2", h5::ElementType::u16}, {"i2", h5::ElementType::i16}, {"u4", h5::ElementType::u32},
      {"i4", h5::ElementType::i32}, {"u8", h5::ElementType::u64}, {"i8", h5::ElementType::i64},
      {"f4", h5::ElementType::f32}, {"f8", h5::ElementType::f64}};
  for (const auto& [text, type] : types) {
    if (code == text) return type;
  }
  TESSERA_THROW("'", name, "' holds elements of NumPy type '", descr,
                "'; supported: bool, uint8/int8, (u)int16, (u)int32, (u)int64, float32, float64 (convert float16 "
                "with x.astype(np.float32))");
}

Shape parse_shape(const std::string& tuple, const std::string& name) {
  Shape shape;
  std::string inner = tuple.substr(1, tuple.size() - 2);  // drop ( )
  std::replace(inner.begin(), inner.end(), ',', ' ');
  std::istringstream in(inner);
  int64_t dim = 0;
  while (in >> dim) shape.push_back(dim);
  TESSERA_CHECK(in.eof(), "'", name, "': cannot read the shape ", tuple, " of its .npy header");
  // A corrupt or hostile header: a wrapped size would pass the data check, and rows that are not there be read.
  TESSERA_CHECK(checked_shape_numel(shape).has_value(), "'", name, "': the shape ", tuple,
                " of its .npy header has a negative dimension or too many elements");
  return shape;
}

// What the elements need after a raw read: byte order swapped (element size; 0: none), bools made 0/1.
struct ElementFixes {
  size_t swap = 0;
  bool boolean = false;
  void apply(uint8_t* bytes, size_t size) const {
    if (swap > 1) {
      for (size_t i = 0; i + swap <= size; i += swap) std::reverse(bytes + i, bytes + i + swap);
    }
    if (boolean) {
      for (size_t i = 0; i < size; ++i) bytes[i] = bytes[i] != 0;
    }
  }
};

// A .npy file's header: the array (type and shape, no data), where its data starts and how many bytes it has.
struct NpyHeader {
  RowArray array;
  size_t data_start = 0;
  size_t data_bytes = 0;
  ElementFixes fixes;
  std::string descr;  // NumPy's type text, "<f4"
};

// `prefix`: the file's first bytes, at least up to the end of the header where the file has that many.
NpyHeader parse_npy_header(const std::string& prefix, const std::string& name) {
  TESSERA_CHECK(prefix.size() >= 10 && prefix.compare(0, 6, "\x93NUMPY") == 0, "'", name,
                "' is not a .npy file (no \\x93NUMPY magic; write it with np.save)");
  const int major = static_cast<uint8_t>(prefix[6]);
  TESSERA_CHECK(major >= 1 && major <= 3, "'", name, "': .npy format version ", major,
                " is not supported (1 to 3 are)");
  const size_t length_bytes = major == 1 ? 2 : 4;
  TESSERA_CHECK(prefix.size() >= 8 + length_bytes, "'", name, "' ends inside its .npy header");
  size_t header_length = 0;
  for (size_t i = 0; i < length_bytes; ++i) header_length |= size_t{static_cast<uint8_t>(prefix[8 + i])} << (8 * i);
  NpyHeader parsed{.data_start = 8 + length_bytes + header_length};
  TESSERA_CHECK(prefix.size() >= parsed.data_start, "'", name, "' ends inside its .npy header");
  const std::string header = prefix.substr(8 + length_bytes, header_length);
  const std::string descr = header_value(header, "descr", name);
  TESSERA_CHECK(descr.size() >= 3 && descr.front() == '\'' && descr.back() == '\'', "'", name, "' holds a structured ",
                "or unusual NumPy type ", descr, "; save one plain numeric array per file");
  const std::string type_text = descr.substr(1, descr.size() - 2);
  TESSERA_CHECK(header_value(header, "fortran_order", name) == "False", "'", name,
                "' is stored in Fortran order; save np.ascontiguousarray(array) instead");
  parsed.descr = type_text;
  parsed.array = RowArray{.type = element_type_of_descr(type_text, name),
                          .shape = parse_shape(header_value(header, "shape", name), name)};
  TESSERA_CHECK(!parsed.array.shape.empty(), "'", name, "' holds a scalar; expected one row per sample");
  const size_t numel = static_cast<size_t>(shape_numel(parsed.array.shape));  // checked in parse_shape
  TESSERA_CHECK(!__builtin_mul_overflow(numel, h5::element_type_size(parsed.array.type), &parsed.data_bytes), "'",
                name, "': its .npy header's shape has too many elements");
  const bool big_endian = type_text[0] == '>' || (type_text[0] == '=' && std::endian::native == std::endian::big);
  if (big_endian != (std::endian::native == std::endian::big)) {
    parsed.fixes.swap = h5::element_type_size(parsed.array.type);
  }
  parsed.fixes.boolean = type_text.substr(1) == "b1";
  return parsed;
}

void check_data_size(const NpyHeader& header, size_t file_bytes, const std::string& name) {
  TESSERA_CHECK(file_bytes - header.data_start == header.data_bytes, "'", name, "' holds ",
                file_bytes - header.data_start, " bytes of data but its header (", header.descr, ", shape ", shape_str(header.array.shape), ") says ",
                header.data_bytes, ": the file is truncated or corrupt");
}

// An .npy file's rows, read with pread where they are asked for: runs of consecutive rows in one read each.
class NpyRowFile final : public RowFile {
 public:
  NpyRowFile(std::string path, size_t data_start, ElementFixes fixes)
      : path_(std::move(path)), data_start_(data_start), fixes_(fixes), fd_(::open(path_.c_str(), O_RDONLY)) {
    TESSERA_CHECK(fd_ >= 0, "cannot open '", path_, "': ", std::strerror(errno));
  }
  ~NpyRowFile() override { ::close(fd_); }
  NpyRowFile(const NpyRowFile&) = delete;
  NpyRowFile& operator=(const NpyRowFile&) = delete;

  void read(const int64_t* rows, size_t count, size_t row_bytes, uint8_t* out) const override {
    for (size_t i = 0; i < count;) {
      size_t run = 1;
      while (i + run < count && rows[i + run] == rows[i] + static_cast<int64_t>(run)) ++run;
      read_exactly(data_start_ + static_cast<size_t>(rows[i]) * row_bytes, run * row_bytes, out + i * row_bytes);
      i += run;
    }
    fixes_.apply(out, count * row_bytes);
  }

 private:
  void read_exactly(size_t offset, size_t size, uint8_t* out) const {
    while (size > 0) {
      const ssize_t got = ::pread(fd_, out, size, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      TESSERA_CHECK(got > 0, "cannot read '", path_, "' at byte ", offset, ": ",
                    got < 0 ? std::strerror(errno) : "the file ended (truncated while converting?)");
      out += got;
      offset += static_cast<size_t>(got);
      size -= static_cast<size_t>(got);
    }
  }

  std::string path_;
  size_t data_start_;
  ElementFixes fixes_;
  int fd_;
};

struct ZipCloser {
  void operator()(zip_t* archive) const { zip_discard(archive); }  // read only: nothing to write back
};
struct ZipFileCloser {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};

}  // namespace

RowArray parse_npy(const std::string& bytes, const std::string& name) {
  NpyHeader header = parse_npy_header(bytes, name);
  check_data_size(header, bytes.size(), name);
  RowArray array = std::move(header.array);
  array.bytes.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header.data_start), bytes.end());
  header.fixes.apply(array.bytes.data(), array.bytes.size());
  return array;
}

RowArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TESSERA_CHECK(in.good(), "cannot open '", path, "'");
  // The header ends within the first 64 KiB (NumPy writes it padded to 64 bytes; 4 GiB at most in version 2).
  std::string prefix(size_t{1} << 16, '\0');
  in.read(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  prefix.resize(static_cast<size_t>(in.gcount()));
  NpyHeader header = parse_npy_header(prefix, path);
  std::error_code error;
  const auto file_bytes = std::filesystem::file_size(path, error);
  TESSERA_CHECK(!error, "cannot read the size of '", path, "': ", error.message());
  check_data_size(header, static_cast<size_t>(file_bytes), path);
  RowArray array = std::move(header.array);
  array.file = std::make_shared<NpyRowFile>(path, header.data_start, header.fixes);
  return array;
}

RowArray read_npz(const std::string& path, const std::string& key) {
  int error = 0;
  std::unique_ptr<zip_t, ZipCloser> archive(zip_open(path.c_str(), ZIP_RDONLY, &error));
  if (!archive) {
    zip_error_t reason;
    zip_error_init_with_code(&reason, error);
    const std::string text = zip_error_strerror(&reason);
    zip_error_fini(&reason);
    TESSERA_THROW("cannot open '", path, "' as a .npz (zip) archive: ", text);
  }
  const std::string member = key + ".npy";
  const zip_int64_t index = zip_name_locate(archive.get(), member.c_str(), 0);
  if (index < 0) {
    std::string keys;
    for (zip_int64_t i = 0; i < zip_get_num_entries(archive.get(), 0); ++i) {
      std::string entry = zip_get_name(archive.get(), static_cast<zip_uint64_t>(i), 0);
      if (entry.size() > 4 && entry.ends_with(".npy")) entry.resize(entry.size() - 4);
      keys += (keys.empty() ? "'" : ", '") + entry + "'";
    }
    TESSERA_THROW("'", path, "' has no array '", key, "' (it holds ", keys.empty() ? "none" : keys, ")");
  }
  zip_stat_t info;
  zip_stat_init(&info);
  TESSERA_CHECK(
      zip_stat_index(archive.get(), static_cast<zip_uint64_t>(index), 0, &info) == 0 && (info.valid & ZIP_STAT_SIZE),
      "'", path, "': cannot read the size of member '", member, "'");
  std::unique_ptr<zip_file_t, ZipFileCloser> file(zip_fopen_index(archive.get(), static_cast<zip_uint64_t>(index), 0));
  TESSERA_CHECK(file, "'", path, "': cannot open member '", member, "': ", zip_strerror(archive.get()));
  std::string bytes(info.size, '\0');
  const zip_int64_t got = zip_fread(file.get(), bytes.data(), info.size);
  TESSERA_CHECK(got == static_cast<zip_int64_t>(info.size), "'", path, "': cannot read member '", member,
                "' (corrupt archive?): ", zip_file_strerror(file.get()));
  return parse_npy(bytes, path + " member '" + key + "'");
}

}  // namespace tessera::io
