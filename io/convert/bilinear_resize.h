#pragma once
// Bilinear resizing of 8-bit interleaved pixels with half-pixel centres and no antialiasing: the same sampling as
// torch.nn.functional.interpolate(mode="bilinear", align_corners=False) and OpenCV's INTER_LINEAR, values rounded
// to the nearest integer. Downscaling by more than 2x therefore skips pixels (no area averaging).
#include <cstdint>
#include <vector>

namespace tessera::io {

// `pixels` is height x width x channels; the result is out_height x out_width x channels.
std::vector<uint8_t> resize_bilinear(const std::vector<uint8_t>& pixels, int64_t height, int64_t width,
                                     int64_t channels, int64_t out_height, int64_t out_width);

}  // namespace tessera::io
