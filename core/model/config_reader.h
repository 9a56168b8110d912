#pragma once
// Reads one JSON object of a config with errors that name the key path and what is allowed:
//   ConfigReader opt(json["optimizer"], "optimizer");
//   std::string type = opt.one_of("type", {"sgd", "adam", "adamw"});
//   double lr = opt.get<double>("lr", 1e-3);           // optional, with default
//   int64_t steps = opt.required<int64_t>("steps");
//   opt.finish();                                        // any key not read above is an error
// Errors: "config: optimizer.lr: expected a number, got \"fast\"", "config: unknown key optimizer.lrr
// (allowed: type, lr, ...)". Numbers given for integers must be whole; booleans are not numbers.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::model {

class ConfigReader {
 public:
  // `path` is the key path of `object` ("" for the root); it must be a JSON object.
  ConfigReader(const nlohmann::json& object, std::string path);

  template <typename T> T required(const std::string& key);
  template <typename T> T get(const std::string& key, const T& fallback);
  template <typename T> std::optional<T> optional(const std::string& key);
  std::string one_of(const std::string& key, const std::vector<std::string>& allowed,
                     const std::optional<std::string>& fallback = std::nullopt);
  bool has(const std::string& key);  // marks the key as known
  // The raw value of an object or array member (required), for nested readers.
  const nlohmann::json& child(const std::string& key);
  std::string path_of(const std::string& key) const;  // "optimizer.lr"

  // Fails on the first key that no accessor asked for, listing those that were.
  void finish() const;

 private:
  nlohmann::json object_;  // a copy: configs are small, and a reader may outlive a temporary
  std::string path_;
  std::set<std::string> known_;
  std::vector<std::string> known_in_order_;

  void mark(const std::string& key);
  template <typename T> T convert(const std::string& key, const nlohmann::json& value) const;
};

// For errors: "\"fast\"", "[1,2]", "3.5" (shortened when long).
std::string describe_json(const nlohmann::json& value);

}  // namespace tessera::model
