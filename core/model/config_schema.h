#pragma once
// A JSON Schema of a config, recorded from the code that validates it, so the two cannot drift:
//   ConfigRecording run;
//   { ConfigRecording::Scope scope(run); parse_train_config(example); }  // each accessor notes its key: type,
//                                                                      // default, enum, minimum, required
//   nlohmann::ordered_json schema = build_json_schema({&run, ...}, descriptions, "title");
// One run sees only the keys its input leads the parser to: keys read only when present (has() then get) are
// seen in runs that give them, defaults in runs that leave them out, and each variant of an object (optimizer.type
// "sgd" or "adam") in a run that picks it. Objects read with ConfigReader::variant() get one if/then branch per
// variant, forbidding the keys that variant does not read and giving its own defaults.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::model {

struct KeyRecord {
  std::set<std::string> types;     // JSON Schema type names: "integer", "string", "array", ...
  std::string item_type;           // for "array": the type of its items ("" when unchecked here)
  std::optional<nlohmann::json> default_value;  // seen when the run left the key out
  bool required = false;
  std::vector<std::string> allowed;  // enum
  std::optional<double> minimum;
};

struct ObjectRecord {
  std::vector<std::string> order;  // keys in the order the parser reads them
  std::map<std::string, KeyRecord> keys;
  std::string discriminator;       // the key whose value picks the variant ("type"); empty for none
  std::string variant;             // its value in this run
  std::vector<std::string> variants;  // every value it allows
};

// What the ConfigReaders of one parse read. Objects are keyed by their key path ("" for the root,
// "callbacks.early_stopping").
class ConfigRecording {
 public:
  ObjectRecord& object(const std::string& path);
  KeyRecord& key(const std::string& path, const std::string& key);
  const std::map<std::string, ObjectRecord>& objects() const { return objects_; }

  // While a Scope lives, every ConfigReader constructed on this thread records into its recording.
  class Scope {
   public:
    explicit Scope(ConfigRecording& recording);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    ConfigRecording* previous_;
  };
  static ConfigRecording* active();  // null outside a Scope

 private:
  std::map<std::string, ObjectRecord> objects_;
};

// A draft 2020-12 JSON Schema merging the runs; `descriptions` maps key paths ("optimizer.lr", "" for the root)
// to one line each. Throws when a variant some object allows was picked by none of the runs.
nlohmann::ordered_json build_json_schema(const std::vector<const ConfigRecording*>& runs,
                                 const std::map<std::string, std::string>& descriptions, const std::string& title);

// The key paths a schema describes, objects included, in order ("optimizer", "optimizer.type", ...).
std::vector<std::string> schema_key_paths(const nlohmann::ordered_json& schema);

// For `--set optimizer.type=sgd`: when `key` picks the variant of the object at `object_path` in `schema`, the
// keys that variant `value` forbids; nullopt when `key` picks no variant there or `value` is none of them.
std::optional<std::vector<std::string>> keys_forbidden_by_variant(const nlohmann::ordered_json& schema,
                                                                  const std::vector<std::string>& object_path,
                                                                  const std::string& key, const nlohmann::json& value);

// A Markdown page of the schema: one table row per key path, with type, default, allowed values and description.
std::string schema_to_markdown(const nlohmann::ordered_json& schema, const std::string& preamble);

}  // namespace tessera::model
