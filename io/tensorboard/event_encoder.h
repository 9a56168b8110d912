#pragma once
// The few protobuf messages of TensorBoard's event format that scalars, histograms and text need, encoded by hand
// (protobuf wire format, tensorflow/core/util/event.proto, summary.proto, tensor.proto) rather than by generated
// code: a handful of fields, and no .proto files to vendor or protoc step in the build.
//   Event    { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary  { repeated Value value = 1; }
//   Value    { string tag = 1; float simple_value = 2; HistogramProto histo = 5; TensorProto tensor = 8;
//              SummaryMetadata metadata = 9; }
//   HistogramProto  { double min = 1, max = 2, num = 3, sum = 4, sum_squares = 5;
//                     repeated double bucket_limit = 6 [packed]; repeated double bucket = 7 [packed]; }
//   TensorProto     { DataType dtype = 1 (DT_STRING = 7); TensorShapeProto tensor_shape = 2 { Dim dim = 2 {
//                     int64 size = 1 } }; repeated bytes string_val = 8; }
//   SummaryMetadata { PluginData plugin_data = 1 { string plugin_name = 1; } }   (text: plugin "text")
//   Event    { SessionLog session_log = 7 { enum SessionStatus status = 1 (START = 1) } }
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::io::tensorboard {

std::string encode_file_version_event(double wall_time);  // the first record of every file: "brain.Event:2"
// Event { SessionLog session_log = 7 { status = 1: START } }: a session (re)starting at `step`. TensorBoard's reader
// takes every START after a run's first as a restart and drops the events it read before at `step` and later.
std::string encode_session_start_event(double wall_time, int64_t step);
std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag, float value);

// Bucket i counts the values in (bucket_limit[i-1], bucket_limit[i]] (the first from min), as TensorBoard reads it.
struct Histogram {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limit, bucket;
};
// `buckets` equal-width buckets between the smallest and largest value (one bucket when they are equal).
Histogram make_histogram(const std::vector<double>& values, int buckets);
std::string encode_histogram_event(double wall_time, int64_t step, const std::string& tag, const Histogram& histogram);
// A text summary, as torch.utils.tensorboard's add_text writes it (TensorBoard renders it as Markdown).
std::string encode_text_event(double wall_time, int64_t step, const std::string& tag, const std::string& text);

}  // namespace tessera::io::tensorboard
