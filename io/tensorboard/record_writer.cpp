#include "io/tensorboard/record_writer.h"

#include <boost/crc.hpp>

#include <cerrno>
#include <cstring>

#include "core/check.h"

namespace tessera::io::tensorboard {

namespace {

using Crc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

std::string little_endian(uint64_t value, int bytes) {
  std::string out(bytes, '\0');
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

}  // namespace

uint32_t crc32c(std::string_view bytes) {
  Crc32c crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

uint32_t masked_crc32c(std::string_view bytes) {
  const uint32_t value = crc32c(bytes);
  return ((value >> 15) | (value << 17)) + 0xa282ead8u;
}

RecordWriter::RecordWriter(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "wb");
  TESSERA_CHECK(file_ != nullptr, "cannot create TensorBoard event file ", path, ": ", std::strerror(errno));
}

RecordWriter::~RecordWriter() {
  if (file_) std::fclose(file_);
}

void RecordWriter::write(std::string_view record) {
  const std::string length = little_endian(record.size(), 8);
  std::string framed = length;
  framed += little_endian(masked_crc32c(length), 4);
  framed += record;
  framed += little_endian(masked_crc32c(record), 4);
  TESSERA_CHECK(std::fwrite(framed.data(), 1, framed.size(), file_) == framed.size(),
                "cannot write to TensorBoard event file ", path_, ": ", std::strerror(errno));
}

void RecordWriter::flush() {
  TESSERA_CHECK(std::fflush(file_) == 0, "cannot flush TensorBoard event file ", path_, ": ", std::strerror(errno));
}

}  // namespace tessera::io::tensorboard
