#include "io/convert/bilinear_resize.h"

#include <algorithm>
#include <cmath>

namespace tessera::io {

namespace {

// Source position of output index `i` along one axis, as two neighbours and the weight of the second.
struct Tap {
  int64_t low, high;
  float weight;
};

std::vector<Tap> taps(int64_t in, int64_t out) {
  std::vector<Tap> result(static_cast<size_t>(out));
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t i = 0; i < out; ++i) {
    const double source = std::max(0.0, (static_cast<double>(i) + 0.5) * scale - 0.5);  // half-pixel centres
    const auto low = std::min(static_cast<int64_t>(source), in - 1);
    result[static_cast<size_t>(i)] = {low, std::min(low + 1, in - 1),
                                      static_cast<float>(source - static_cast<double>(low))};
  }
  return result;
}

}  // namespace

std::vector<uint8_t> resize_bilinear(const std::vector<uint8_t>& pixels, int64_t height, int64_t width,
                                     int64_t channels, int64_t out_height, int64_t out_width) {
  if (height == out_height && width == out_width) return pixels;
  const std::vector<Tap> rows = taps(height, out_height), columns = taps(width, out_width);
  std::vector<uint8_t> out(static_cast<size_t>(out_height * out_width * channels));
  const auto at = [&](int64_t y, int64_t x, int64_t c) {
    return static_cast<float>(pixels[static_cast<size_t>((y * width + x) * channels + c)]);
  };
  for (int64_t y = 0; y < out_height; ++y) {
    const Tap& r = rows[static_cast<size_t>(y)];
    for (int64_t x = 0; x < out_width; ++x) {
      const Tap& col = columns[static_cast<size_t>(x)];
      for (int64_t c = 0; c < channels; ++c) {
        const float top = at(r.low, col.low, c) * (1 - col.weight) + at(r.low, col.high, c) * col.weight;
        const float bottom = at(r.high, col.low, c) * (1 - col.weight) + at(r.high, col.high, c) * col.weight;
        const float value = top * (1 - r.weight) + bottom * r.weight;
        out[static_cast<size_t>((y * out_width + x) * channels + c)] =
            static_cast<uint8_t>(std::clamp(std::floor(value + 0.5f), 0.0f, 255.0f));
      }
    }
  }
  return out;
}

}  // namespace tessera::io
