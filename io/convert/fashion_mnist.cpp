#include "io/convert/fashion_mnist.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "io/convert/idx.h"
#include "io/hdf5/file.h"

namespace tessera::io {

namespace {

constexpr const char* kClasses = "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot";

std::string shard_name(const std::string& split, int shard, int shards) {
  char name[64];
  std::snprintf(name, sizeof(name), "%s-%05d-of-%05d.h5", split.c_str(), shard, shards);
  return name;
}

IdxArray read_source(const std::string& dir, const std::string& file) {
  const std::string path = dir + "/" + file;
  struct stat info {};
  TESSERA_CHECK(::stat(path.c_str(), &info) == 0, "Fashion-MNIST file '", path,
                "' does not exist: install the Debian package dataset-fashion-mnist "
                "(apt-get install dataset-fashion-mnist) or pass --source DIR");
  return read_idx_gz(path);
}

void write_split(const FashionMnistOptions& options, const std::string& split, const std::string& prefix,
                 std::vector<ConvertedShard>& written) {
  const IdxArray images = read_source(options.source_dir, prefix + "-images-idx3-ubyte.gz");
  const IdxArray labels = read_source(options.source_dir, prefix + "-labels-idx1-ubyte.gz");
  TESSERA_CHECK(images.shape.size() == 3 && images.shape[1] == 28 && images.shape[2] == 28, "'", options.source_dir, "/",
                prefix, "-images-idx3-ubyte.gz' has shape ", shape_str(images.shape), "; expected (n, 28, 28)");
  TESSERA_CHECK(labels.shape.size() == 1 && labels.shape[0] == images.shape[0], "'", options.source_dir, "/", prefix,
                "-labels-idx1-ubyte.gz' has shape ", shape_str(labels.shape), "; expected (", images.shape[0], ")");
  const int64_t n = images.shape[0], pixels = 28 * 28;
  TESSERA_CHECK(options.shards >= 1 && options.shards <= n, "--shards must be in [1, ", n, "], got ", options.shards);
  for (int s = 0; s < options.shards; ++s) {
    const int64_t first = n * s / options.shards, rows = n * (s + 1) / options.shards - first;
    const std::string path = options.out_dir + "/" + shard_name(split, s, options.shards);
    const std::string temporary = path + ".partial";  // renamed when complete: no half-written shard
    {
      h5::File file = h5::File::create(temporary);
      const int gzip = options.gzip ? 4 : -1;
      const int64_t chunk = std::min(options.chunk_rows, rows);
      h5::Dataset x = file.create_dataset("x", h5::ElementType::u8, {rows, 1, 28, 28},
                                          {.chunk = {chunk, 1, 28, 28}, .gzip_level = gzip});
      x.write_all(h5::ElementType::u8, images.data.data() + first * pixels);
      h5::write_attribute(x.id(), "layout", std::string("N,C,H,W"));
      std::vector<int64_t> y(labels.data.begin() + first, labels.data.begin() + first + rows);
      h5::Dataset y_set = file.create_dataset("y", h5::ElementType::i64, {rows}, {.chunk = {std::min<int64_t>(rows, 4096)},
                                                                                  .gzip_level = gzip, .shuffle = options.gzip});
      y_set.write_all(h5::ElementType::i64, y.data());
      h5::write_attribute(y_set.id(), "classes", std::string(kClasses));
      h5::write_attribute(file.id(), "source", std::string("Fashion-MNIST (Zalando Research), Debian package dataset-fashion-mnist"));
      h5::write_attribute(file.id(), "source_images", options.source_dir + "/" + prefix + "-images-idx3-ubyte.gz");
      h5::write_attribute(file.id(), "source_labels", options.source_dir + "/" + prefix + "-labels-idx1-ubyte.gz");
      h5::write_attribute(file.id(), "split", split);
      h5::write_attribute(file.id(), "shard", int64_t{s});
      h5::write_attribute(file.id(), "num_shards", int64_t{options.shards});
      h5::write_attribute(file.id(), "first_index", first);
      h5::write_attribute(file.id(), "split_size", n);
    }
    std::filesystem::rename(temporary, path);
    written.push_back({path, split, first, rows});
  }
}

}  // namespace

std::vector<ConvertedShard> convert_fashion_mnist(const FashionMnistOptions& options) {
  TESSERA_CHECK(!options.out_dir.empty(), "convert_fashion_mnist: no output directory given");
  std::error_code error;
  std::filesystem::create_directories(options.out_dir, error);
  TESSERA_CHECK(!error, "cannot create output directory '", options.out_dir, "': ", error.message());
  std::vector<ConvertedShard> written;
  write_split(options, "train", "train", written);
  write_split(options, "test", "t10k", written);
  return written;
}

}  // namespace tessera::io
