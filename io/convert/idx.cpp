#include "io/convert/idx.h"

#include <sys/stat.h>
#include <zlib.h>

#include <memory>

#include "core/check.h"

namespace tessera::io {

namespace {

struct GzCloser {
  void operator()(gzFile file) const { gzclose(file); }
};

// Reads exactly n bytes or throws naming the path and what was being read.
void read_exactly(gzFile file, void* out, size_t n, const std::string& path, const char* what) {
  auto* bytes = static_cast<uint8_t*>(out);
  while (n > 0) {
    const unsigned step = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
    const int got = gzread(file, bytes, step);
    int code = Z_OK;
    const char* message = gzerror(file, &code);
    TESSERA_CHECK(got > 0, "idx file '", path, "': cannot read its ", what,
                  got == 0 ? " (file ends early)" : "", code != Z_OK ? std::string(" (zlib: ") + message + ")" : "");
    bytes += got;
    n -= static_cast<size_t>(got);
  }
}

}  // namespace

IdxArray read_idx_gz(const std::string& path) {
  struct stat info {};
  TESSERA_CHECK(::stat(path.c_str(), &info) == 0, "idx file '", path, "' does not exist");
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  TESSERA_CHECK(file, "cannot open idx file '", path, "'");
  uint8_t magic[4];
  read_exactly(file.get(), magic, 4, path, "header");
  TESSERA_CHECK(magic[0] == 0 && magic[1] == 0 && magic[3] >= 1 && magic[3] <= 4, "'", path,
                "' is not an idx file (bad magic number)");
  TESSERA_CHECK(magic[2] == 0x08, "idx file '", path, "' holds element type 0x", std::hex, int{magic[2]},
                "; only unsigned bytes (0x08) are supported");
  IdxArray array;
  for (int d = 0; d < magic[3]; ++d) {
    uint8_t be[4];
    read_exactly(file.get(), be, 4, path, "dimensions");
    array.shape.push_back((int64_t{be[0]} << 24) | (int64_t{be[1]} << 16) | (int64_t{be[2]} << 8) | int64_t{be[3]});
  }
  const std::optional<int64_t> numel = checked_shape_numel(array.shape);  // up to four dims of 2^32
  TESSERA_CHECK(numel.has_value(), "idx file '", path, "' has too many elements");
  array.data.resize(static_cast<size_t>(*numel));
  read_exactly(file.get(), array.data.data(), array.data.size(), path, "data");
  return array;
}

}  // namespace tessera::io
