#include "io/tensorboard/event_encoder.h"

#include <algorithm>
#include <cstring>

namespace tessera::io::tensorboard {

namespace {

enum WireType : uint32_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

void put_key(std::string& out, uint32_t field, WireType type) { put_varint(out, (field << 3) | type); }

template <typename T>
void put_fixed(std::string& out, uint32_t field, T value) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  put_key(out, field, sizeof(T) == 8 ? fixed64 : fixed32);
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // protobuf is little-endian, as is every machine we target
  out.append(bytes, sizeof(T));
}

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_key(out, field, length_delimited);
  put_varint(out, bytes.size());
  out += bytes;
}

void put_packed_doubles(std::string& out, uint32_t field, const std::vector<double>& values) {
  std::string packed;
  for (double value : values) {
    char bytes[sizeof(double)];
    std::memcpy(bytes, &value, sizeof(double));
    packed.append(bytes, sizeof(double));
  }
  put_bytes(out, field, packed);
}

std::string event_header(double wall_time, int64_t step) {
  std::string event;
  put_fixed(event, 1, wall_time);
  put_key(event, 2, varint);
  put_varint(event, static_cast<uint64_t>(step));  // int64 negatives take 10 bytes, as protobuf specifies
  return event;
}

// An Event holding a Summary of one Value: `tag`, then the encoded `fields` of the value.
std::string value_event(double wall_time, int64_t step, const std::string& tag, const std::string& fields) {
  std::string summary_value;
  put_bytes(summary_value, 1, tag);
  summary_value += fields;
  std::string summary;
  put_bytes(summary, 1, summary_value);
  std::string event = event_header(wall_time, step);
  put_bytes(event, 5, summary);
  return event;
}

}  // namespace

std::string encode_file_version_event(double wall_time) {
  std::string event = event_header(wall_time, 0);
  put_bytes(event, 3, "brain.Event:2");
  return event;
}

std::string encode_session_start_event(double wall_time, int64_t step) {
  std::string session_log;
  put_key(session_log, 1, varint);
  put_varint(session_log, 1);  // SessionLog.START
  std::string event = event_header(wall_time, step);
  put_bytes(event, 7, session_log);
  return event;
}

std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag, float value) {
  std::string fields;
  put_fixed(fields, 2, value);
  return value_event(wall_time, step, tag, fields);
}

Histogram make_histogram(const std::vector<double>& values, int buckets) {
  Histogram h;
  if (values.empty()) return h;
  h.min = h.max = values[0];
  for (double v : values) {
    h.min = std::min(h.min, v);
    h.max = std::max(h.max, v);
    h.sum += v;
    h.sum_squares += v * v;
  }
  h.num = static_cast<double>(values.size());
  const int count = h.max > h.min ? std::max(buckets, 1) : 1;
  const double width = (h.max - h.min) / count;
  for (int i = 0; i < count; ++i) h.bucket_limit.push_back(i + 1 == count ? h.max : h.min + width * (i + 1));
  h.bucket.assign(count, 0.0);
  for (double v : values) {
    const int i = width > 0 ? static_cast<int>((v - h.min) / width) : 0;
    h.bucket[std::clamp(i, 0, count - 1)] += 1;
  }
  return h;
}

std::string encode_histogram_event(double wall_time, int64_t step, const std::string& tag, const Histogram& h) {
  std::string histo;
  put_fixed(histo, 1, h.min);
  put_fixed(histo, 2, h.max);
  put_fixed(histo, 3, h.num);
  put_fixed(histo, 4, h.sum);
  put_fixed(histo, 5, h.sum_squares);
  put_packed_doubles(histo, 6, h.bucket_limit);
  put_packed_doubles(histo, 7, h.bucket);
  std::string fields;
  put_bytes(fields, 5, histo);
  return value_event(wall_time, step, tag, fields);
}

std::string encode_text_event(double wall_time, int64_t step, const std::string& tag, const std::string& text) {
  std::string dim, shape, tensor, plugin, metadata, fields;
  put_key(dim, 1, varint);
  put_varint(dim, 1);
  put_bytes(shape, 2, dim);
  put_key(tensor, 1, varint);
  put_varint(tensor, 7);  // DT_STRING
  put_bytes(tensor, 2, shape);
  put_bytes(tensor, 8, text);
  put_bytes(plugin, 1, "text");
  put_bytes(metadata, 1, plugin);
  put_bytes(fields, 8, tensor);
  put_bytes(fields, 9, metadata);
  return value_event(wall_time, step, tag, fields);
}

}  // namespace tessera::io::tensorboard
