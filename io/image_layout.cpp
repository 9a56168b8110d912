#include "io/image_layout.h"

#include "core/check.h"

namespace tessera::io {

ImageLayout parse_image_layout(const std::string& text, const std::string& key) {
  if (text == "nchw") return ImageLayout::nchw;
  if (text == "nhwc") return ImageLayout::nhwc;
  if (text == "auto") return ImageLayout::automatic;
  TESSERA_THROW(key, ": must be \"nchw\" (channels first, the default), \"nhwc\" (channels last, as NumPy and Keras ",
                "store images) or \"auto\", got \"", text, "\"");
}

const char* image_layout_name(ImageLayout layout) {
  switch (layout) {
    case ImageLayout::nchw: return "nchw";
    case ImageLayout::nhwc: return "nhwc";
    case ImageLayout::automatic: break;
  }
  return "auto";
}

const char* image_layout_attribute(ImageLayout layout) {
  TESSERA_CHECK(layout != ImageLayout::automatic, "image_layout_attribute: 'auto' is not a stored layout");
  return layout == ImageLayout::nhwc ? "N,H,W,C" : "N,C,H,W";
}

ImageLayout resolve_image_layout(ImageLayout declared, const Shape& shape, const std::string& attribute,
                                 const std::string& where) {
  const bool images = shape.size() == 4;
  if (declared == ImageLayout::nhwc) {
    TESSERA_CHECK(images, where, " has shape ", shape_str(shape), "; layout nhwc needs images stored as (N, H, W, C)");
    return declared;
  }
  TESSERA_CHECK(declared == ImageLayout::automatic || attribute != "N,H,W,C", where, " is marked channels-last (its ",
                "'layout' attribute is N,H,W,C) but is read with layout nchw: declare the layout nhwc or auto ",
                "(data.layout in a tessera train config)");
  if (declared == ImageLayout::nchw || !images) return ImageLayout::nchw;
  if (attribute == "N,H,W,C") return ImageLayout::nhwc;
  if (attribute == "N,C,H,W") return ImageLayout::nchw;
  const auto channel_like = [](int64_t dim) { return dim == 1 || dim == 3 || dim == 4; };
  return channel_like(shape[3]) && !channel_like(shape[1]) ? ImageLayout::nhwc : ImageLayout::nchw;
}

std::string channels_last_hint(ImageLayout read_as, const Shape& shape) {
  if (read_as != ImageLayout::nchw || resolve_image_layout(ImageLayout::automatic, shape, "", "") != ImageLayout::nhwc)
    return "";
  return "; its last dimension looks like channels (N,H,W,C, as NumPy and Keras store images): set the layout to nhwc "
         "or auto (\"data.layout\" in a tessera train config)";
}

Shape model_sample_shape(const Shape& stored_sample, ImageLayout layout) {
  if (layout != ImageLayout::nhwc) return stored_sample;
  return {stored_sample[2], stored_sample[0], stored_sample[1]};
}

}  // namespace tessera::io
