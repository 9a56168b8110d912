#include "core/model/config_schema.h"

#include <algorithm>
#include <cstdint>

#include "core/check.h"

namespace tessera::model {

namespace {

thread_local ConfigRecording* active_recording = nullptr;

// Defaults are recorded as plain JSON; the schema keeps its keys in the order the parser reads them.
nlohmann::ordered_json ordered(const nlohmann::json& value) { return nlohmann::ordered_json::parse(value.dump()); }

std::string join_path(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

nlohmann::ordered_json type_json(const std::set<std::string>& types) {
  if (types.size() == 1) return *types.begin();
  return std::vector<std::string>(types.begin(), types.end());
}

void merge_key(KeyRecord& into, const KeyRecord& from) {
  into.types.insert(from.types.begin(), from.types.end());
  if (into.item_type.empty()) into.item_type = from.item_type;
  if (!into.default_value) into.default_value = from.default_value;
  into.required = into.required || from.required;
  if (into.allowed.empty()) into.allowed = from.allowed;
  if (!into.minimum) into.minimum = from.minimum;
}

// Builds the schema of one object path from every run that read it.
class SchemaBuilder {
 public:
  SchemaBuilder(const std::vector<const ConfigRecording*>& runs, const std::map<std::string, std::string>& descriptions)
      : runs_(runs), descriptions_(descriptions) {}

  bool has_object(const std::string& path) const {
    return std::any_of(runs_.begin(), runs_.end(), [&](const auto* run) { return run->objects().count(path) > 0; });
  }

  nlohmann::ordered_json object_schema(const std::string& path) const {
    // The keys each variant reads ("" when the object has no variants), merged over runs.
    std::map<std::string, std::map<std::string, KeyRecord>> by_variant;
    std::vector<std::string> order, variants;
    std::string discriminator;
    for (const auto* run : runs_) {
      if (!run->objects().count(path)) continue;
      const ObjectRecord& object = run->objects().at(path);
      if (!object.discriminator.empty()) discriminator = object.discriminator, variants = object.variants;
      for (const auto& key : object.order) {
        if (std::find(order.begin(), order.end(), key) == order.end()) order.push_back(key);
        merge_key(by_variant[object.variant][key], object.keys.at(key));
      }
    }
    for (const auto& variant : variants) {
      TESSERA_CHECK(by_variant.count(variant), "config schema: no example picks ", join_path(path, discriminator), " \"",
                    variant, "\" (add one to the schema's examples)");
    }
    auto in_every_variant = [&](const std::string& key, auto&& same) {
      const KeyRecord* first = nullptr;
      for (const auto& [variant, keys] : by_variant) {
        if (!keys.count(key)) return false;
        if (first && !same(*first, keys.at(key))) return false;
        first = &keys.at(key);
      }
      return true;
    };
    auto same_default = [](const KeyRecord& a, const KeyRecord& b) { return a.default_value == b.default_value; };
    auto same_required = [](const KeyRecord& a, const KeyRecord& b) { return a.required == b.required; };

    nlohmann::ordered_json schema = {{"type", "object"}};
    describe(schema, path);
    nlohmann::ordered_json properties = nlohmann::ordered_json::object(), required = nlohmann::ordered_json::array();
    for (const auto& key : order) {
      KeyRecord merged;
      for (const auto& [variant, keys] : by_variant) {
        if (keys.count(key)) merge_key(merged, keys.at(key));
      }
      const bool common_default = in_every_variant(key, same_default);
      if (!common_default) merged.default_value.reset();
      if (merged.required && in_every_variant(key, same_required)) required.push_back(key);
      properties[key] = key_schema(merged, join_path(path, key));
    }
    schema["properties"] = properties;
    if (!required.empty()) schema["required"] = required;
    schema["additionalProperties"] = false;
    if (!discriminator.empty()) schema["allOf"] = variant_branches(discriminator, variants, order, by_variant, required);
    return schema;
  }

 private:
  const std::vector<const ConfigRecording*>& runs_;
  const std::map<std::string, std::string>& descriptions_;

  void describe(nlohmann::ordered_json& schema, const std::string& path) const {
    auto it = descriptions_.find(path);
    if (it != descriptions_.end()) schema["description"] = it->second;
  }

  nlohmann::ordered_json key_schema(const KeyRecord& key, const std::string& path) const {
    nlohmann::ordered_json schema = has_object(path) ? object_schema(path) : nlohmann::ordered_json::object();
    if (!has_object(path)) describe(schema, path);
    if (!key.types.empty()) schema["type"] = type_json(key.types);  // init_from: a string or the object
    if (!key.item_type.empty()) schema["items"] = {{"type", key.item_type}};
    if (!key.allowed.empty() && has_object(path)) {
      // A name or an object (loss): the names bind the string form only.
      if (!schema.contains("allOf")) schema["allOf"] = nlohmann::ordered_json::array();
      schema["allOf"].push_back({{"if", {{"type", "string"}}}, {"then", {{"enum", key.allowed}}}});
    } else if (!key.allowed.empty()) {
      schema["enum"] = key.allowed;
    }
    if (key.minimum) {
      if (key.types == std::set<std::string>{"integer"}) schema["minimum"] = static_cast<int64_t>(*key.minimum);
      else schema["minimum"] = *key.minimum;
    }
    if (key.default_value) schema["default"] = ordered(*key.default_value);
    return schema;
  }

  // One if/then per variant: the keys it does not read are forbidden; its own defaults and required keys.
  static nlohmann::ordered_json variant_branches(const std::string& discriminator, const std::vector<std::string>& variants,
                                         const std::vector<std::string>& order,
                                         const std::map<std::string, std::map<std::string, KeyRecord>>& by_variant,
                                         const nlohmann::ordered_json& common_required) {
    nlohmann::ordered_json branches = nlohmann::ordered_json::array();
    for (const auto& variant : variants) {
      const auto& keys = by_variant.at(variant);
      nlohmann::ordered_json properties = nlohmann::ordered_json::object(), required = nlohmann::ordered_json::array();
      for (const auto& key : order) {
        if (!keys.count(key)) {
          properties[key] = false;
          continue;
        }
        const KeyRecord& record = keys.at(key);
        bool differs = false;
        for (const auto& [other, other_keys] : by_variant) {
          differs = differs || !other_keys.count(key) || other_keys.at(key).default_value != record.default_value;
        }
        if (differs && record.default_value) properties[key] = {{"default", ordered(*record.default_value)}};
        const bool in_common = std::find(common_required.begin(), common_required.end(), key) != common_required.end();
        if (record.required && !in_common) required.push_back(key);
      }
      nlohmann::ordered_json then = {{"properties", properties}};
      if (!required.empty()) then["required"] = required;
      branches.push_back({{"if", {{"properties", {{discriminator, {{"const", variant}}}}}, {"required", {discriminator}}}},
                          {"then", then}});
    }
    return branches;
  }
};

void collect_paths(const nlohmann::ordered_json& schema, const std::string& path, std::vector<std::string>& out) {
  if (!schema.contains("properties")) return;
  for (const auto& [key, property] : schema["properties"].items()) {
    out.push_back(join_path(path, key));
    collect_paths(property, join_path(path, key), out);
  }
}

}  // namespace

ConfigRecording::Scope::Scope(ConfigRecording& recording) : previous_(active_recording) {
  active_recording = &recording;
}
ConfigRecording::Scope::~Scope() { active_recording = previous_; }
ConfigRecording* ConfigRecording::active() { return active_recording; }

ObjectRecord& ConfigRecording::object(const std::string& path) { return objects_[path]; }

KeyRecord& ConfigRecording::key(const std::string& path, const std::string& key) {
  ObjectRecord& object = objects_[path];
  if (!object.keys.count(key)) object.order.push_back(key);
  return object.keys[key];
}

nlohmann::ordered_json build_json_schema(const std::vector<const ConfigRecording*>& runs,
                                 const std::map<std::string, std::string>& descriptions, const std::string& title) {
  nlohmann::ordered_json schema = {{"$schema", "https://json-schema.org/draft/2020-12/schema"}, {"title", title}};
  schema.update(SchemaBuilder(runs, descriptions).object_schema(""));
  return schema;
}

std::vector<std::string> schema_key_paths(const nlohmann::ordered_json& schema) {
  std::vector<std::string> out;
  collect_paths(schema, "", out);
  return out;
}

std::optional<std::vector<std::string>> keys_forbidden_by_variant(const nlohmann::ordered_json& schema,
                                                                  const std::vector<std::string>& object_path,
                                                                  const std::string& key, const nlohmann::json& value) {
  const nlohmann::ordered_json* object = &schema;
  for (const auto& name : object_path) {
    if (!object->contains("properties") || !(*object)["properties"].contains(name)) return std::nullopt;
    object = &(*object)["properties"][name];
  }
  if (!object->contains("allOf")) return std::nullopt;
  for (const auto& branch : (*object)["allOf"]) {
    if (!branch["if"].contains("properties")) continue;  // not a variant: the names of a name-or-object key
    const auto& picks = branch["if"]["properties"];
    if (!picks.contains(key) || picks[key]["const"] != ordered(value)) continue;
    std::vector<std::string> forbidden;
    for (const auto& [name, rule] : branch["then"]["properties"].items()) {
      if (rule == false) forbidden.push_back(name);
    }
    return forbidden;
  }
  return std::nullopt;
}

}  // namespace tessera::model
