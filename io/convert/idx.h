#pragma once
// The idx format of (Fashion-)MNIST, gzip-compressed: magic 0x00 0x00 <type> <ndims>, ndims big-endian u32
// dimensions, then the elements. Only unsigned bytes (type 0x08) are used by those data sets.
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tessera::io {

struct IdxArray {
  Shape shape;
  std::vector<uint8_t> data;  // row-major, shape_numel(shape) bytes
};

// Errors name the path: missing, not gzip/idx, element type other than u8, fewer bytes than the header says.
IdxArray read_idx_gz(const std::string& path);

}  // namespace tessera::io
