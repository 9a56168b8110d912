#include "io/convert/image_decode.h"

#include <png.h>
#include <turbojpeg.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "core/check.h"

namespace tessera::io {

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TESSERA_CHECK(in.good(), "cannot open image '", path, "'");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

bool is_png(const std::string& bytes) {
  return bytes.size() >= 8 && png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0;
}
bool is_jpeg(const std::string& bytes) { return bytes.size() >= 3 && bytes.compare(0, 3, "\xFF\xD8\xFF") == 0; }

// libpng's simplified reader: begin (header), then finish into our buffer in the format asked for.
struct PngReader {
  png_image image{};
  PngReader(const std::string& bytes, const std::string& path) {
    image.version = PNG_IMAGE_VERSION;
    TESSERA_CHECK(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) != 0, "cannot read PNG image '",
                  path, "': ", image.message);
  }
  ~PngReader() { png_image_free(&image); }
};

struct TurboJpeg {
  tjhandle handle = tjInitDecompress();
  ~TurboJpeg() { tjDestroy(handle); }
};

struct JpegHeader {
  int width = 0, height = 0, subsampling = 0, colourspace = 0;
};

JpegHeader jpeg_header(const TurboJpeg& jpeg, const std::string& bytes, const std::string& path) {
  JpegHeader header;
  TESSERA_CHECK(jpeg.handle, "cannot start a TurboJPEG decompressor");
  TESSERA_CHECK(tjDecompressHeader3(jpeg.handle, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                                    &header.width, &header.height, &header.subsampling, &header.colourspace) == 0,
                "cannot read JPEG image '", path, "': ", tjGetErrorStr2(jpeg.handle));
  return header;
}

[[noreturn]] void unknown_format(const std::string& path) {
  TESSERA_THROW("'", path, "' is neither a PNG nor a JPEG image (its first bytes are no PNG or JPEG signature)");
}

}  // namespace

bool image_has_colour(const std::string& path) {
  const std::string bytes = read_bytes(path);
  if (is_png(bytes)) return (PngReader(bytes, path).image.format & PNG_FORMAT_FLAG_COLOR) != 0;
  if (is_jpeg(bytes)) return jpeg_header(TurboJpeg(), bytes, path).colourspace != TJCS_GRAY;
  unknown_format(path);
}

DecodedImage decode_image(const std::string& path, int channels) {
  TESSERA_CHECK(channels == 1 || channels == 3, "decode_image: channels must be 1 or 3, got ", channels);
  const std::string bytes = read_bytes(path);
  DecodedImage decoded{.channels = channels};
  if (is_png(bytes)) {
    PngReader png(bytes, path);
    png.image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    decoded.height = png.image.height;
    decoded.width = png.image.width;
    decoded.pixels.resize(PNG_IMAGE_SIZE(png.image));
    TESSERA_CHECK(png_image_finish_read(&png.image, nullptr, decoded.pixels.data(), 0, nullptr) != 0,
                  "cannot decode PNG image '", path, "': ", png.image.message);
    return decoded;
  }
  if (!is_jpeg(bytes)) unknown_format(path);
  TurboJpeg jpeg;
  const JpegHeader header = jpeg_header(jpeg, bytes, path);
  decoded.height = header.height;
  decoded.width = header.width;
  decoded.pixels.resize(static_cast<size_t>(header.width) * header.height * channels);
  TESSERA_CHECK(tjDecompress2(jpeg.handle, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                              decoded.pixels.data(), header.width, 0, header.height,
                              channels == 1 ? TJPF_GRAY : TJPF_RGB, 0) == 0,
                "cannot decode JPEG image '", path, "': ", tjGetErrorStr2(jpeg.handle));
  return decoded;
}

}  // namespace tessera::io
