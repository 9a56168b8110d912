#pragma once
// Reads one JSON object of a config with errors that name the key path and what is allowed:
//   ConfigReader opt(json["optimizer"], "optimizer");
//   std::string type = opt.one_of("type", {"sgd", "adam", "adamw"});
//   double lr = opt.get<double>("lr", 1e-3);           // optional, with default
//   int64_t steps = opt.required<int64_t>("steps");
//   opt.finish();                                        // any key not read above is an error
// While a ConfigRecording (config_schema.h) is active on the thread, every accessor also records what it read
// (type, default, allowed values, minimum, required), so the JSON Schema comes from this same code.
// Errors: "config: optimizer.lr: expected a number, got \"fast\"", "config: unknown key optimizer.lrr
// (allowed: type, lr, ...)". Numbers given for integers must be whole; booleans are not numbers.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::model {

class ConfigRecording;
struct KeyRecord;

class ConfigReader {
 public:
  // `path` is the key path of `object` ("" for the root); it must be a JSON object.
  ConfigReader(const nlohmann::json& object, std::string path);

  template <typename T> T required(const std::string& key);
  template <typename T> T get(const std::string& key, const T& fallback);
  template <typename T> std::optional<T> optional(const std::string& key);
  std::string one_of(const std::string& key, const std::vector<std::string>& allowed,
                     const std::optional<std::string>& fallback = std::nullopt);
  // one_of for the key that picks which other keys the object takes (optimizer.type: sgd reads momentum, adam
  // beta1); required. The schema gets one branch per variant, and `--set optimizer.type=...` drops the keys the
  // new variant does not take.
  std::string variant(const std::string& key, const std::vector<std::string>& allowed);
  bool has(const std::string& key);  // marks the key as known (and as optional, for the schema)
  // Whether the key is given as JSON null, which the accessors above take as absent; for options where null means
  // something of its own (batchnorm's momentum: PyTorch's None, a cumulative average). Marks the key as known.
  bool is_null(const std::string& key);
  // The raw value of an object or array member, for nested readers; required unless has() was asked first.
  const nlohmann::json& child(const std::string& key);
  // For the schema: the smallest value a check after reading the key allows.
  void record_minimum(const std::string& key, double minimum);
  // For the schema: the default of a key read with optional(), when the key was left out (an int_pair's 1, not
  // the [1.0] get<std::vector<double>> would record).
  void record_default(const std::string& key, const nlohmann::json& value);
  std::string path_of(const std::string& key) const;  // "optimizer.lr"

  // Fails on the first key that no accessor asked for, listing those that were.
  void finish() const;

 private:
  nlohmann::json object_;  // a copy: configs are small, and a reader may outlive a temporary
  std::string path_;
  std::set<std::string> known_;
  std::vector<std::string> known_in_order_;
  std::set<std::string> asked_;   // keys has() was called for: optional objects
  ConfigRecording* recording_;  // null unless recording a schema

  void mark(const std::string& key);
  bool present(const std::string& key);
  KeyRecord* record(const std::string& key);  // null unless recording
  template <typename T> void record_type(const std::string& key);
  template <typename T> T convert(const std::string& key, const nlohmann::json& value) const;
};

// For errors: "\"fast\"", "[1,2]", "3.5" (shortened when long).
std::string describe_json(const nlohmann::json& value);

}  // namespace tessera::model
