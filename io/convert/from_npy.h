#pragma once
// `tessera data from-npy`: x and y from two .npy files (np.save) or one .npz archive (np.savez /
// np.savez_compressed, arrays under keys x and y by default), kept exactly as stored (shape and element type);
// bool becomes u8. Rank-4 x can be declared nchw or nhwc: written as x's `layout` attribute, which data.layout
// "auto" reads (the loader transposes nhwc to N,C,H,W).
#include <optional>
#include <string>

#include "io/convert/labelled_arrays.h"
#include "io/image_layout.h"

namespace tessera::io {

struct NpySource {
  std::string x_path;  // a .npy file, or a .npz archive holding both arrays (then y_path stays empty)
  std::string y_path;
  std::string x_key = "x", y_key = "y";  // keys in the .npz
  std::optional<ImageLayout> layout{};   // of a rank-4 x: nchw or nhwc
};

LabelledArrays read_npy_source(const NpySource& source);

}  // namespace tessera::io
