#include "core/model/config_reader.h"

#include <cmath>
#include <limits>
#include <utility>

#include "core/check.h"
#include "core/model/config_schema.h"

namespace tessera::model {

std::string describe_json(const nlohmann::json& value) {
  std::string text = value.dump();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

ConfigReader::ConfigReader(const nlohmann::json& object, std::string path)
    : object_(object), path_(std::move(path)), recording_(ConfigRecording::active()) {
  TESSERA_CHECK(object_.is_object(), "config: ", path_.empty() ? "the config" : path_,
                " must be a JSON object, got ", describe_json(object_));
  if (recording_) recording_->object(path_);
}

std::string ConfigReader::path_of(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

void ConfigReader::mark(const std::string& key) {
  if (known_.insert(key).second) known_in_order_.push_back(key);
}

KeyRecord* ConfigReader::record(const std::string& key) { return recording_ ? &recording_->key(path_, key) : nullptr; }

void ConfigReader::record_minimum(const std::string& key, double minimum) {
  if (KeyRecord* r = record(key)) r->minimum = minimum;
}

void ConfigReader::record_default(const std::string& key, const nlohmann::json& value) {
  if (KeyRecord* r = record(key); r && !object_.contains(key)) r->default_value = value;
}

template <typename T>
void ConfigReader::record_type(const std::string& key) {
  KeyRecord* r = record(key);
  if (!r) return;
  if constexpr (std::is_same_v<T, bool>) {
    r->types.insert("boolean");
  } else if constexpr (std::is_same_v<T, std::string>) {
    r->types.insert("string");
  } else if constexpr (std::is_same_v<T, std::vector<std::string>> || std::is_same_v<T, std::vector<double>>) {
    // One item may be given alone (see convert).
    r->item_type = std::is_same_v<T, std::vector<double>> ? "number" : "string";
    r->types.insert({"array", r->item_type});
  } else if constexpr (std::is_integral_v<T>) {
    r->types.insert("integer");
    if (std::is_unsigned_v<T>) r->minimum = 0;
  } else {
    r->types.insert("number");
  }
}

bool ConfigReader::present(const std::string& key) {
  mark(key);
  record(key);
  return object_.contains(key) && !object_.at(key).is_null();
}

bool ConfigReader::has(const std::string& key) {
  asked_.insert(key);
  return present(key);
}

bool ConfigReader::is_null(const std::string& key) {
  mark(key);
  return object_.contains(key) && object_.at(key).is_null();
}

const nlohmann::json& ConfigReader::child(const std::string& key) {
  const bool found = present(key);
  if (KeyRecord* r = record(key)) {
    r->required = r->required || !asked_.count(key);
    if (found) r->types.insert(std::string(object_.at(key).type_name()));
  }
  TESSERA_CHECK(found, "config: missing key ", path_of(key));
  return object_.at(key);
}

template <typename T>
T ConfigReader::convert(const std::string& key, const nlohmann::json& value) const {
  const std::string where = "config: " + path_of(key) + ": expected ";
  if constexpr (std::is_same_v<T, bool>) {
    TESSERA_CHECK(value.is_boolean(), where, "true or false, got ", describe_json(value));
    return value.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    TESSERA_CHECK(value.is_string(), where, "a string, got ", describe_json(value));
    return value.get<std::string>();
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    // A single string is accepted where a list of strings is expected ("train": "data/*.h5").
    if (value.is_string()) return {value.get<std::string>()};
    TESSERA_CHECK(value.is_array(), where, "a list of strings, got ", describe_json(value));
    std::vector<std::string> out;
    for (const auto& item : value) {
      TESSERA_CHECK(item.is_string(), where, "a list of strings, got ", describe_json(value));
      out.push_back(item.get<std::string>());
    }
    return out;
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    if (value.is_number()) return {value.get<double>()};
    TESSERA_CHECK(value.is_array(), where, "a number or a list of numbers, got ", describe_json(value));
    std::vector<double> out;
    for (const auto& item : value) {
      TESSERA_CHECK(item.is_number(), where, "a list of numbers, got ", describe_json(value));
      out.push_back(item.get<double>());
    }
    return out;
  } else if constexpr (std::is_integral_v<T>) {
    TESSERA_CHECK(value.is_number(), where, "an integer, got ", describe_json(value));
    const double number = value.get<double>();
    TESSERA_CHECK(std::floor(number) == number, where, "an integer, got ", describe_json(value));
    TESSERA_CHECK(std::is_signed_v<T> || number >= 0, where, "a non-negative integer, got ", describe_json(value));
    // Past T's range the casts below wrap or are undefined (1e30 read as INT64_MIN, 18446744073709551615 as -1).
    const bool in_range = value.is_number_unsigned() ? std::in_range<T>(value.get<uint64_t>())
                          : value.is_number_integer()
                              ? std::in_range<T>(value.get<int64_t>())
                              : number >= static_cast<double>(std::numeric_limits<T>::min()) &&
                                    number < std::ldexp(1.0, std::numeric_limits<T>::digits);
    TESSERA_CHECK(in_range, where, "an integer in [", std::numeric_limits<T>::min(), ", ",
                  std::numeric_limits<T>::max(), "], got ", describe_json(value));
    return value.is_number_unsigned() ? static_cast<T>(value.get<uint64_t>()) : static_cast<T>(value.get<int64_t>());
  } else {
    static_assert(std::is_floating_point_v<T>, "ConfigReader: unsupported type");
    TESSERA_CHECK(value.is_number(), where, "a number, got ", describe_json(value));
    return value.get<T>();
  }
}

template <typename T>
std::optional<T> ConfigReader::optional(const std::string& key) {
  record_type<T>(key);
  if (!present(key)) return std::nullopt;
  return convert<T>(key, object_.at(key));
}

template <typename T>
T ConfigReader::required(const std::string& key) {
  if (KeyRecord* r = record(key)) r->required = true;
  auto value = optional<T>(key);
  TESSERA_CHECK(value.has_value(), "config: missing key ", path_of(key));
  return *value;
}

template <typename T>
T ConfigReader::get(const std::string& key, const T& fallback) {
  auto value = optional<T>(key);
  if (KeyRecord* r = record(key); r && !value) r->default_value = fallback;
  return value.value_or(fallback);
}

std::string ConfigReader::one_of(const std::string& key, const std::vector<std::string>& allowed,
                                 const std::optional<std::string>& fallback) {
  auto value = optional<std::string>(key);
  if (KeyRecord* r = record(key)) {
    r->allowed = allowed;
    if (!fallback) r->required = true;
    if (!value && fallback) r->default_value = *fallback;
  }
  if (!value) {
    TESSERA_CHECK(fallback.has_value(), "config: missing key ", path_of(key));
    return *fallback;
  }
  for (const auto& option : allowed) {
    if (*value == option) return *value;
  }
  std::string list;
  for (const auto& option : allowed) list += (list.empty() ? "" : ", ") + option;
  TESSERA_THROW("config: ", path_of(key), ": \"", *value, "\" is not one of: ", list);
}

std::string ConfigReader::variant(const std::string& key, const std::vector<std::string>& allowed) {
  std::string value = one_of(key, allowed);
  if (recording_) {
    ObjectRecord& object = recording_->object(path_);
    object.discriminator = key;
    object.variant = value;
    object.variants = allowed;
  }
  return value;
}

void ConfigReader::finish() const {
  for (const auto& [key, value] : object_.items()) {
    if (known_.count(key)) continue;
    std::string list;
    for (const auto& name : known_in_order_) list += (list.empty() ? "" : ", ") + name;
    TESSERA_THROW("config: unknown key ", path_of(key), " (allowed here: ", list, ")");
  }
}

#define TESSERA_CONFIG_READER_TYPE(T)                                         \
  template T ConfigReader::required<T>(const std::string&);                   \
  template T ConfigReader::get<T>(const std::string&, const T&);              \
  template std::optional<T> ConfigReader::optional<T>(const std::string&);
TESSERA_CONFIG_READER_TYPE(bool)
TESSERA_CONFIG_READER_TYPE(int64_t)
TESSERA_CONFIG_READER_TYPE(uint64_t)
TESSERA_CONFIG_READER_TYPE(double)
TESSERA_CONFIG_READER_TYPE(std::string)
TESSERA_CONFIG_READER_TYPE(std::vector<std::string>)
TESSERA_CONFIG_READER_TYPE(std::vector<double>)
#undef TESSERA_CONFIG_READER_TYPE

}  // namespace tessera::model
