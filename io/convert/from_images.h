#pragma once
// `tessera data from-images DIR`: an image folder DIR/<class>/<image>.png|.jpg|.jpeg (Keras's
// image_dataset_from_directory layout) into x (n, C, H, W) u8, layout "N,C,H,W", and y (n,) i64. Classes are the
// subfolder names in sorted order (y = index; written as y's `classes` attribute), images sorted by name within a
// class; the source order is class by class. C is 1 when every image is grey, else 3 (grey images are expanded to
// RGB), unless `channels` says. Images are resized bilinearly (io/convert/bilinear_resize.h) to `height` x `width`;
// without a size all images must share one. Images are decoded as the shards are written, a slab at a time (x is
// a RowFile), so a folder larger than memory converts; a bad image then fails the conversion at its turn.
#include <string>

#include "io/convert/labelled_arrays.h"

namespace tessera::io {

struct ImageFolderSource {
  std::string dir;
  int64_t height = 0, width = 0;  // 0: the images' own size (then every image must have it)
  int channels = 0;               // 1 (grey) or 3 (RGB); 0: 1 when every image is grey, else 3
};

LabelledArrays read_image_folder(const ImageFolderSource& source);

}  // namespace tessera::io
