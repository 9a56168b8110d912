#include "io/convert/image_decode.h"

#include <png.h>
#include <turbojpeg.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

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

// Grey from 8-bit RGB as Pillow's convert("L"): ITU-R 601 luma in 16-bit fixed point, rounded.
uint8_t pillow_luma(const uint8_t* rgb) {
  return static_cast<uint8_t>((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16);
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
    // Decoded as stored (alpha kept, colour kept), then converted as PIL's convert("RGB"/"L") does, which
    // torchvision's ImageFolder uses: alpha dropped, not composited onto black (libpng's default when the output
    // format has no alpha), and grey as ITU-R 601 luma of the stored values (libpng's is in linear light).
    PngReader png(bytes, path);
    const bool colour = (png.image.format & PNG_FORMAT_FLAG_COLOR) != 0;
    const bool alpha = (png.image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    const size_t stored = (colour ? 3 : 1) + (alpha ? 1 : 0);
    png.image.format = colour ? (alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB) : (alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY);
    decoded.height = png.image.height;
    decoded.width = png.image.width;
    std::vector<uint8_t> raw(PNG_IMAGE_SIZE(png.image));
    TESSERA_CHECK(png_image_finish_read(&png.image, nullptr, raw.data(), 0, nullptr) != 0,
                  "cannot decode PNG image '", path, "': ", png.image.message);
    const size_t pixels = static_cast<size_t>(decoded.height) * static_cast<size_t>(decoded.width);
    decoded.pixels.resize(pixels * static_cast<size_t>(channels));
    for (size_t p = 0; p < pixels; ++p) {
      const uint8_t* in = raw.data() + p * stored;
      uint8_t* out = decoded.pixels.data() + p * static_cast<size_t>(channels);
      if (channels == 3) {
        for (int c = 0; c < 3; ++c) out[c] = colour ? in[c] : in[0];
      } else {
        out[0] = colour ? pillow_luma(in) : in[0];
      }
    }
    return decoded;
  }
  if (!is_jpeg(bytes)) unknown_format(path);
  TurboJpeg jpeg;
  const JpegHeader header = jpeg_header(jpeg, bytes, path);
  decoded.height = header.height;
  decoded.width = header.width;
  // A colour JPEG taken as grey: decoded to RGB, then Pillow's luma, as convert("L") (libjpeg's own grey output is
  // the stored Y, before chroma upsampling and clamping: up to 13 levels off).
  const bool luma = channels == 1 && header.colourspace != TJCS_GRAY;
  const size_t pixels = static_cast<size_t>(header.width) * static_cast<size_t>(header.height);
  std::vector<uint8_t> rgb(luma ? pixels * 3 : 0);
  decoded.pixels.resize(pixels * static_cast<size_t>(channels));
  TESSERA_CHECK(tjDecompress2(jpeg.handle, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                              luma ? rgb.data() : decoded.pixels.data(), header.width, 0, header.height,
                              channels == 1 && !luma ? TJPF_GRAY : TJPF_RGB, 0) == 0,
                "cannot decode JPEG image '", path, "': ", tjGetErrorStr2(jpeg.handle));
  for (size_t p = 0; luma && p < pixels; ++p) {
    const uint8_t* in = rgb.data() + p * 3;
    decoded.pixels[p] = pillow_luma(in);
  }
  return decoded;
}

}  // namespace tessera::io
