#pragma once
// The few protobuf messages of TensorBoard's event format that scalars need, encoded by hand (protobuf wire
// format, tensorflow/core/util/event.proto and summary.proto) rather than by generated code: three messages,
// five fields, and no .proto files to vendor or protoc step in the build.
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; }
#include <cstdint>
#include <string>

namespace tessera::io::tensorboard {

std::string encode_file_version_event(double wall_time);  // the first record of every file: "brain.Event:2"
std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag, float value);

}  // namespace tessera::io::tensorboard
