#pragma once
// The reference of `model.layers` (every layer type build_sequential takes, and its keys with type, default and a
// description), recorded from the builder itself as the config reference is (config_schema.h): each type is built
// once from an example under a ConfigRecording. A layer type or key without a description here is an error, so
// docs/config.md, whose last section this is, cannot drift from the builder.
#include <string>

namespace tessera::model {

std::string layer_reference_markdown();

}  // namespace tessera::model
