#pragma once
// TFRecord framing, the container format of TensorBoard event files:
//   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
// where masked_crc32c(x) = rotate_right(crc32c(x), 15) + 0xa282ead8 (CRC32C = Castagnoli, from Boost.CRC).
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace tessera::io::tensorboard {

uint32_t crc32c(std::string_view bytes);  // plain CRC32C (checkpoints store it per tensor)
uint32_t masked_crc32c(std::string_view bytes);

// Appends records to a file. Not thread-safe; one writer per file.
class RecordWriter {
 public:
  explicit RecordWriter(const std::string& path);  // creates or truncates; throws naming the path on failure
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  void write(std::string_view record);
  void flush();  // to the OS, so a TensorBoard watching the directory sees the records
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace tessera::io::tensorboard
