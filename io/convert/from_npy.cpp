#include "io/convert/from_npy.h"

#include "core/check.h"
#include "io/convert/npy.h"

namespace tessera::io {

LabelledArrays read_npy_source(const NpySource& source) {
  const bool archive = source.y_path.empty();
  TESSERA_CHECK(!archive || source.x_path.ends_with(".npz"), "data from-npy: give X.npy Y.npy, or one FILE.npz (got '",
                source.x_path, "' alone)");
  LabelledArrays data{.x = archive ? read_npz(source.x_path, source.x_key) : read_npy(source.x_path),
                      .y = archive ? read_npz(source.x_path, source.y_key) : read_npy(source.y_path)};
  const std::string x_name = archive ? source.x_path + " member '" + source.x_key + "'" : source.x_path;
  const std::string y_name = archive ? source.x_path + " member '" + source.y_key + "'" : source.y_path;
  TESSERA_CHECK(data.x.rows() == data.y.rows(), "x ('", x_name, "', shape ", shape_str(data.x.shape), ") and y ('",
                y_name, "', shape ", shape_str(data.y.shape), ") must have the same number of rows (first dimension)");
  TESSERA_CHECK(data.x.rows() > 0, "'", x_name, "' holds no rows");
  if (source.layout) {
    TESSERA_CHECK(data.x.shape.size() == 4 && *source.layout != ImageLayout::automatic, "data from-npy: --layout ",
                  image_layout_name(*source.layout), " describes images stored as rank 4 (nchw or nhwc) but '", x_name,
                  "' has shape ", shape_str(data.x.shape));
    data.x_layout = image_layout_attribute(*source.layout);
  }
  data.attributes = {{"source", archive ? source.x_path : source.x_path + ", " + source.y_path},
                     {"converter", "tessera data from-npy"}};
  return data;
}

}  // namespace tessera::io
