#include "io/convert/from_images.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "core/log.h"
#include "core/check.h"
#include "io/convert/bilinear_resize.h"
#include "io/convert/image_decode.h"

namespace tessera::io {

namespace fs = std::filesystem;

namespace {

struct Listing {
  std::vector<std::string> classes;
  std::vector<std::pair<std::string, int64_t>> images;  // path and class index, class by class, sorted by name
  int64_t skipped = 0;                                  // files that are not .png/.jpg/.jpeg
  std::string first_skipped;
};

bool is_image_name(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return extension == ".png" || extension == ".jpg" || extension == ".jpeg";
}

std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.path().filename().string().starts_with('.')) entries.push_back(entry.path());  // no hidden files
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

// Every file below `dir`, in subfolders too (as torchvision's ImageFolder and Keras's image_dataset_from_directory
// take them), in ImageFolder's order: by folder, then by name within it (a folder's own files before its
// subfolders'); hidden files and folders are left out.
std::vector<fs::path> sorted_files_below(const fs::path& dir) {
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink);
       it != fs::recursive_directory_iterator(); ++it) {
    if (it->path().filename().string().starts_with('.')) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_directory()) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return std::pair(a.parent_path().string(), a.filename().string()) <
           std::pair(b.parent_path().string(), b.filename().string());
  });
  return files;
}

Listing list_images(const std::string& dir) {
  std::error_code error;
  TESSERA_CHECK(fs::is_directory(dir, error), "image folder '", dir,
                "' is not a directory (expected DIR/<class>/*.png)");
  Listing listing;
  for (const fs::path& class_dir : sorted_entries(dir)) {
    if (!fs::is_directory(class_dir)) continue;
    const std::string name = class_dir.filename().string();
    TESSERA_CHECK(name.find(',') == std::string::npos, "class folder '", class_dir.string(),
                  "': class names must not hold commas (they are stored comma-separated in y's 'classes')");
    const auto index = static_cast<int64_t>(listing.classes.size());
    listing.classes.push_back(name);
    for (const fs::path& file : sorted_files_below(class_dir)) {
      if (is_image_name(file) && fs::is_regular_file(file)) {
        listing.images.emplace_back(file.string(), index);
      } else if (listing.skipped++ == 0) {
        listing.first_skipped = file.string();
      }
    }
  }
  TESSERA_CHECK(!listing.classes.empty(), "image folder '", dir,
                "' has no class subfolders (expected DIR/<class>/*.png)");
  TESSERA_CHECK(!listing.images.empty(), "image folder '", dir, "' has class folders but no .png/.jpg/.jpeg images");
  return listing;
}

// x's rows, decoded (and resized) from their files as the shards are written: the folder is never held in memory.
class DecodedImageRows final : public RowFile {
 public:
  DecodedImageRows(std::vector<std::string> paths, int channels, int64_t height, int64_t width, bool resize)
      : paths_(std::move(paths)), channels_(channels), height_(height), width_(width), resize_(resize) {}

  void read(const int64_t* rows, size_t count, size_t row_bytes, uint8_t* out) const override {
    for (size_t i = 0; i < count; ++i) decode_into(paths_[static_cast<size_t>(rows[i])], out + i * row_bytes);
  }

 private:
  void decode_into(const std::string& path, uint8_t* out) const {
    const DecodedImage image = decode_image(path, channels_);
    TESSERA_CHECK(resize_ || (image.height == height_ && image.width == width_), "image '", path, "' is ",
                  image.height, "x", image.width, " but '", paths_[0], "' is ", height_, "x", width_,
                  "; give --size HxW to resize every image to one size");
    const std::vector<uint8_t> pixels =
        resize_bilinear(image.pixels, image.height, image.width, channels_, height_, width_);
    for (int64_t p = 0; p < height_ * width_; ++p) {  // H,W,C interleaved -> C,H,W planes
      for (int64_t c = 0; c < channels_; ++c) {
        out[c * height_ * width_ + p] = pixels[static_cast<size_t>(p * channels_ + c)];
      }
    }
  }

  std::vector<std::string> paths_;
  int channels_;
  int64_t height_, width_;
  bool resize_;
};

}  // namespace

LabelledArrays read_image_folder(const ImageFolderSource& source) {
  TESSERA_CHECK(source.channels == 0 || source.channels == 1 || source.channels == 3,
                "data from-images: --channels must be 1 or 3, got ", source.channels);
  TESSERA_CHECK((source.height > 0) == (source.width > 0), "data from-images: give both height and width (--size HxW)");
  const Listing listing = list_images(source.dir);
  if (listing.skipped > 0)
    log::warn("skipped {} file(s) that are not .png/.jpg/.jpeg images (e.g. '{}')", listing.skipped,
              listing.first_skipped);
  const auto n = static_cast<int64_t>(listing.images.size());
  int channels = source.channels;
  if (channels == 0) {
    const bool colour = std::any_of(listing.images.begin(), listing.images.end(),
                                    [](const auto& image) { return image_has_colour(image.first); });
    channels = colour ? 3 : 1;
  }
  int64_t height = source.height, width = source.width;
  if (height == 0) {  // no --size: the first image's size is everyone's
    const DecodedImage first = decode_image(listing.images[0].first, channels);
    height = first.height;
    width = first.width;
  }
  LabelledArrays data{.x = RowArray{.type = h5::ElementType::u8, .shape = {n, channels, height, width}},
                      .y = RowArray::zeros(h5::ElementType::i64, {n}),
                      .x_layout = "N,C,H,W"};
  std::vector<std::string> paths;
  for (int64_t i = 0; i < n; ++i) {
    paths.push_back(listing.images[static_cast<size_t>(i)].first);
    data.y.data<int64_t>()[i] = listing.images[static_cast<size_t>(i)].second;
  }
  data.x.file = std::make_shared<DecodedImageRows>(std::move(paths), channels, height, width, source.height > 0);
  std::string classes;
  for (const std::string& name : listing.classes) classes += (classes.empty() ? "" : ",") + name;
  data.classes = classes;
  data.attributes = {{"source", source.dir},
                     {"converter", "tessera data from-images"},
                     {"resize", source.height > 0 ? "bilinear (half-pixel centres, no antialiasing)" : "none"}};
  return data;
}

}  // namespace tessera::io
