// schema_to_markdown (config_schema.h): the schema's keys as one Markdown table, objects followed by their keys.
#include <algorithm>
#include <map>

#include "core/model/config_schema.h"

namespace tessera::model {

namespace {

using Schema = nlohmann::ordered_json;

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

std::string code(const Schema& value) {  // appended, not `+`: GCC 12 warns falsely (-Wrestrict) on "`" + dump()
  std::string out = "`";
  out += value.dump();
  out += '`';
  return out;
}

std::string cell(std::string text) {  // a table cell: a '|' would end it
  for (size_t at = text.find('|'); at != std::string::npos; at = text.find('|', at + 2)) text.replace(at, 1, "\\|");
  return text;
}

std::string type_text(const Schema& property) {
  if (!property.contains("type")) return "";
  const Schema types = property["type"].is_array() ? property["type"] : Schema::array({property["type"]});
  std::vector<std::string> names;
  for (const auto& type : types) {
    if (type != "array") names.push_back(type.get<std::string>());
  }
  for (const auto& type : types) {
    if (type != "array") continue;
    names.push_back(property.contains("items") ? "list of " + property["items"]["type"].get<std::string>() + "s" : "list");
  }
  return join(names, " or ");
}

// A member of a const schema, or null when it has none: operator[] on a const json with a missing key is undefined
// behaviour (nlohmann asserts in debug builds; a release build reads past the object, as AddressSanitizer showed
// for a variant whose `then` does not list every key).
const Schema* member(const Schema& object, const std::string& key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// The rule a variant's `then` gives `key`, or null when it names none.
const Schema* variant_rule(const Schema& then, const std::string& key) {
  const Schema* properties = member(then, "properties");
  return properties ? member(*properties, key) : nullptr;
}

// The if/then branches of an object with variants: (discriminator value, then).
struct Variant {
  std::string value;
  const Schema* then;
};

std::vector<Variant> variants_of(const Schema& object, std::string& discriminator) {
  std::vector<Variant> out;
  if (!object.contains("allOf")) return out;
  for (const auto& branch : object["allOf"]) {
    const Schema* condition = member(branch, "if");
    if (!condition || !condition->contains("properties")) continue;  // not a variant: a name-or-object key's names
    const auto& pick = *branch["if"]["properties"].begin();
    discriminator = branch["if"]["properties"].begin().key();
    out.push_back({pick["const"].get<std::string>(), &branch["then"]});
  }
  return out;
}

std::string default_text(const Schema& object, const std::string& key, const std::vector<Variant>& variants) {
  const Schema& required = object.contains("required") ? object["required"] : Schema::array();
  if (std::find(required.begin(), required.end(), key) != required.end()) return "required";
  if (object["properties"][key].contains("default")) return code(object["properties"][key]["default"]);
  std::map<std::string, std::vector<std::string>> by_default;  // per-variant defaults: `0.01` (sgd)
  std::vector<std::string> order;
  for (const auto& variant : variants) {
    const Schema* rule = variant_rule(*variant.then, key);
    if (!rule || !rule->is_object() || !rule->contains("default")) continue;
    const std::string text = code((*rule)["default"]);
    if (!by_default.count(text)) order.push_back(text);
    by_default[text].push_back(variant.value);
  }
  std::vector<std::string> parts;
  for (const auto& text : order) parts.push_back(text + " (" + join(by_default[text], ", ") + ")");
  return join(parts, "; ");
}

std::string allowed_text(const Schema& property, const std::string& key, const std::string& discriminator,
                         const std::vector<Variant>& variants) {
  std::vector<std::string> parts;
  if (property.contains("enum")) {
    std::vector<std::string> values;
    for (const auto& value : property["enum"]) values.push_back(code(value));
    parts.push_back(join(values, ", "));
  }
  if (property.contains("minimum")) parts.push_back("≥ " + property["minimum"].dump());
  std::vector<std::string> taking;
  for (const auto& variant : variants) {
    const Schema* rule = variant_rule(*variant.then, key);
    if (!rule || *rule != false) taking.push_back(variant.value);  // only `false` keeps a key out of a variant
  }
  if (taking.size() < variants.size()) parts.push_back("only with " + discriminator + " " + join(taking, ", "));
  return join(parts, "; ");
}

void append_rows(const Schema& object, const std::string& path, std::string& out) {
  std::string discriminator;
  const std::vector<Variant> variants = variants_of(object, discriminator);
  for (const auto& [key, property] : object["properties"].items()) {
    const std::string key_path = path.empty() ? key : path + "." + key;
    out += "| `" + key_path + "` | " + type_text(property) + " | " + cell(default_text(object, key, variants)) + " | " +
           cell(allowed_text(property, key, discriminator, variants)) + " | " +
           cell(property.value("description", "")) + " |\n";
    if (property.contains("properties")) append_rows(property, key_path, out);
  }
}

}  // namespace

std::string schema_to_markdown(const Schema& schema, const std::string& preamble) {
  std::string out = "# " + schema.value("title", "Config") + "\n\n" + schema.value("description", "") + "\n\n" +
                    preamble + "\n\n| Key | Type | Default | Allowed | Description |\n|---|---|---|---|---|\n";
  append_rows(schema, "", out);
  return out;
}

}  // namespace tessera::model
