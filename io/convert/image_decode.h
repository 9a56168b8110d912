#pragma once
// PNG (libpng's simplified API) and JPEG (libjpeg-turbo's TurboJPEG API) files to 8-bit pixels, told apart by
// their signature, not their name. 16-bit PNGs become 8-bit, palette images RGB; alpha is composited on black by
// libpng. Errors name the file.
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::io {

struct DecodedImage {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // H, W, C interleaved, as both libraries write it
};

// Whether the file stores colour (RGB, palette) rather than grey levels; reads the header only.
bool image_has_colour(const std::string& path);
// The image as `channels` (1: grey, 3: RGB) per pixel, converted by the library where the file has the other.
DecodedImage decode_image(const std::string& path, int channels);

}  // namespace tessera::io
