#pragma once
// Where an image array keeps its channels. Models take N,C,H,W (PyTorch's order); NumPy, Keras/TensorFlow and
// image libraries write N,H,W,C (channels last). Data stored channels-last is read as is and transposed to N,C,H,W
// where batches are assembled (io/row_converter.h), so the model always sees N,C,H,W.
//   nchw: stored N,C,H,W (the default)
//   nhwc: stored N,H,W,C
//   automatic: the dataset's `layout` attribute ("N,C,H,W" or "N,H,W,C", as the tessera data converters write it),
//              else channels last when the last dim looks like channels (1, 3 or 4) and dim 1 does not.
#include <string>

#include "core/tensor.h"

namespace tessera::io {

enum class ImageLayout { nchw, nhwc, automatic };

// "nchw", "nhwc", "auto" -> the layout; anything else is an error naming `key` (e.g. "config: data.layout").
ImageLayout parse_image_layout(const std::string& text, const std::string& key);
const char* image_layout_name(ImageLayout layout);       // "nchw", "nhwc", "auto"
const char* image_layout_attribute(ImageLayout layout);  // "N,C,H,W", "N,H,W,C" (nchw or nhwc only)

// The layout of a stored array of `shape` with `layout` attribute `attribute` ("" when it has none) under the
// declared layout: nchw or nhwc (never automatic). nhwc needs a rank-4 array; automatic picks nchw for any other;
// nchw refuses an array whose attribute says N,H,W,C.
// `where` names the dataset and file in errors.
ImageLayout resolve_image_layout(ImageLayout declared, const Shape& shape, const std::string& attribute,
                                 const std::string& where);

// For an array of `shape` read as `read_as`: when that is nchw but the shape looks channels-last (what automatic
// would guess), "; its last dimension looks like channels (...): set the layout to nhwc or auto (...)", to append to
// an error or warning about its shape; else "".
std::string channels_last_hint(ImageLayout read_as, const Shape& shape);

// The sample shape a model sees (C,H,W) for a stored sample shape in `layout`.
Shape model_sample_shape(const Shape& stored_sample, ImageLayout layout);

}  // namespace tessera::io
