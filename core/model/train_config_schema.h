#pragma once
// The JSON Schema of the `tessera train` config (train_config.h), recorded by running parse_train_config over a few
// example configs that together reach every key and variant (config_schema.h), with one description per key path
// from the table in train_config_schema.cpp. `tessera train --schema[=markdown]` prints it; docs/config.md and
// docs/config.schema.json are its output, checked by a test so the reference cannot drift from the code.
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace tessera::model {

const nlohmann::ordered_json& train_config_schema();  // built once
std::string train_config_markdown();                   // the page docs/config.md

// The description table (key path -> one line; "" is the whole config), for the test that every key has one.
const std::map<std::string, std::string>& train_config_descriptions();

}  // namespace tessera::model
