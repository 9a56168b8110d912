#include "io/convert/fashion_mnist.h"

#include <sys/stat.h>

#include <algorithm>

#include "io/convert/idx.h"
#include "io/convert/shard_writer.h"

namespace tessera::io {

namespace {

constexpr const char* kClasses = "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot";

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
  LabelledArrays data{.x = RowArray::zeros(h5::ElementType::u8, {images.shape[0], 1, 28, 28}),
                      .y = RowArray::zeros(h5::ElementType::i64, {images.shape[0]}),
                      .x_layout = "N,C,H,W",
                      .classes = kClasses,
                      .attributes = {{"source",
                                      "Fashion-MNIST (Zalando Research), Debian package dataset-fashion-mnist"},
                                     {"source_images", options.source_dir + "/" + prefix + "-images-idx3-ubyte.gz"},
                                     {"source_labels", options.source_dir + "/" + prefix + "-labels-idx1-ubyte.gz"}}};
  std::copy(images.data.begin(), images.data.end(), data.x.bytes.begin());
  std::copy(labels.data.begin(), labels.data.end(), data.y.data<int64_t>());
  for (ConvertedShard& shard : write_shards(options.output, split, data, nullptr, /*commit=*/false))
    written.push_back(std::move(shard));
}

}  // namespace

std::vector<ConvertedShard> convert_fashion_mnist(const FashionMnistOptions& options) {
  create_output_directory(options.output);
  std::vector<ConvertedShard> written;
  try {
    write_split(options, "train", "train", written);
    write_split(options, "test", "t10k", written);
  } catch (...) {  // a missing or corrupt t10k file: no train shards without their test shards
    discard_shards(written);
    throw;
  }
  commit_shards(written);
  return written;
}

}  // namespace tessera::io
