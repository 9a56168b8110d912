// The config's JSON Schema is recorded from parse_train_config itself: every key it reads has a description, the
// defaults it shows are the values a parsed config resolves to, each optimizer/schedule variant forbids the keys
// it does not read, and `--set <variant key>=...` drops exactly those keys. (tests/launch/config_schema.sh checks
// the schema against configs with an independent validator, python3-jsonschema, and docs/ against the code.)
#include <gtest/gtest.h>

#include "core/model/config_reader.h"
#include "core/model/config_schema.h"
#include "core/model/train_config.h"
#include "core/model/train_config_schema.h"
#include "tests/support/test_prelude.h"

using namespace tessera;
using model::apply_override;
using model::parse_train_config;
using model::train_config_schema;

namespace {

json minimal() { return json::parse(R"({"model": {"layers": [{"type": "relu"}]}, "data": {"train": "t.h5"}})"); }

// The if/then branch of `object` (a schema) for variant `value`.
const nlohmann::ordered_json& branch(const nlohmann::ordered_json& object, const std::string& value) {
  for (const auto& b : object["allOf"]) {
    if (b["if"]["properties"]["type"]["const"] == value) return b["then"];
  }
  throw std::runtime_error("no branch " + value);
}

json plain(const nlohmann::ordered_json& value) { return json::parse(value.dump()); }

}  // namespace

TEST(TrainConfigSchema, EveryKeyHasADescriptionAndEveryDescriptionAKey) {
  const auto paths = model::schema_key_paths(train_config_schema());
  const auto& descriptions = model::train_config_descriptions();
  for (const auto& path : paths) EXPECT_TRUE(descriptions.count(path)) << "no description for config key " << path;
  for (const auto& [path, text] : descriptions) {
    EXPECT_TRUE(path.empty() || std::find(paths.begin(), paths.end(), path) != paths.end())
        << "description of " << path << ", which the parser does not read";
  }
  EXPECT_GT(paths.size(), 60u);
}

TEST(TrainConfigSchema, DefaultsAreWhatAParsedConfigResolvesTo) {
  const auto& schema = train_config_schema();
  // Top-level and data defaults against a config that leaves them all out.
  const json resolved = model::to_json(parse_train_config(minimal()));
  for (const std::string object : {"", "data"}) {
    const auto& properties = object.empty() ? schema["properties"] : schema["properties"][object]["properties"];
    const json& values = object.empty() ? resolved : resolved[object];
    for (const auto& [key, property] : properties.items()) {
      if (property.contains("default")) EXPECT_EQ(plain(property["default"]), values.at(key)) << object << "." << key;
    }
  }
  // Each variant's own defaults.
  for (const std::string section : {"optimizer", "schedule"}) {
    for (const auto& option : schema["properties"][section]["properties"]["type"]["enum"]) {
      json config = minimal();
      config[section] = {{"type", option.get<std::string>()}};
      const json values = model::to_json(parse_train_config(config))[section];
      for (const auto& [key, rule] : branch(schema["properties"][section], option.get<std::string>())["properties"].items()) {
        if (rule.is_object()) EXPECT_EQ(plain(rule["default"]), values.at(key)) << section << "." << key << " " << option;
        else EXPECT_FALSE(values.contains(key)) << section << "." << key << " " << option;
      }
    }
  }
  EXPECT_EQ(schema["properties"]["optimizer"]["properties"]["lr"].count("default"), 0u);  // differs by type
  EXPECT_EQ(schema["properties"]["max_steps"].count("default"), 0u);  // absent: no limit
  EXPECT_EQ(plain(schema["required"]), json({"model", "data"}));
}

TEST(TrainConfigSchema, EachVariantForbidsTheKeysItDoesNotRead) {
  const auto& properties = train_config_schema()["properties"];
  const auto forbidden = [](const nlohmann::ordered_json& then) {
    std::vector<std::string> keys;
    for (const auto& [key, rule] : then["properties"].items()) {
      if (rule == false) keys.push_back(key);
    }
    return keys;
  };
  EXPECT_EQ(forbidden(branch(properties["optimizer"], "sgd")), (std::vector<std::string>{"beta1", "beta2", "eps"}));
  EXPECT_EQ(forbidden(branch(properties["optimizer"], "adam")), (std::vector<std::string>{"momentum", "nesterov"}));
  EXPECT_EQ(forbidden(branch(properties["schedule"], "constant")),
            (std::vector<std::string>{"warmup_steps", "min_lr", "step_size", "gamma"}));
  EXPECT_EQ(forbidden(branch(properties["schedule"], "step")), (std::vector<std::string>{"warmup_steps", "min_lr"}));
  EXPECT_EQ(plain(properties["init_from"]["type"]), json({"object", "string"}));
  EXPECT_EQ(properties["checkpoint"]["properties"]["keep"]["minimum"], 1);
  EXPECT_EQ(train_config_schema()["additionalProperties"], false);
}

TEST(ConfigReader, RecordsWhatEachAccessorReadsOnlyInsideAScope) {
  const json object = json::parse(R"({"name": "x", "n": 3, "kind": "b", "child": {}})");
  model::ConfigRecording recording;
  {
    model::ConfigRecording::Scope scope(recording);
    model::ConfigReader r(object, "thing");
    r.required<std::string>("name");
    r.record_minimum("n", 1);
    r.get<int64_t>("n", 5);
    r.get<double>("rate", 0.5);
    r.variant("kind", {"a", "b"});
    if (r.has("extra")) r.child("extra");
    r.child("child");
  }
  EXPECT_EQ(model::ConfigRecording::active(), nullptr);
  model::ConfigReader outside(object, "thing");  // no recording now: must not touch `recording`
  outside.get<double>("other", 1.0);
  const auto& thing = recording.objects().at("thing");
  EXPECT_EQ(thing.order, (std::vector<std::string>{"name", "n", "rate", "kind", "extra", "child"}));
  EXPECT_TRUE(thing.keys.at("name").required);
  EXPECT_EQ(thing.keys.at("n").minimum, 1.0);
  EXPECT_FALSE(thing.keys.at("n").default_value.has_value());  // given, so its default was not seen
  EXPECT_EQ(*thing.keys.at("rate").default_value, 0.5);
  EXPECT_EQ(thing.keys.at("rate").types, std::set<std::string>{"number"});
  EXPECT_EQ(thing.discriminator, "kind");
  EXPECT_EQ(thing.variant, "b");
  EXPECT_FALSE(thing.keys.at("extra").required);  // asked with has() first
  EXPECT_TRUE(thing.keys.at("child").required);
  EXPECT_EQ(thing.keys.at("child").types, std::set<std::string>{"object"});
}

TEST(TrainConfigOverride, SettingAVariantKeyDropsTheKeysTheNewVariantDoesNotTake) {
  json config = minimal();
  config["schedule"] = {{"type", "step"}, {"step_size", 10}, {"gamma", 0.5}};
  config["optimizer"] = {{"type", "adamw"}, {"lr", 0.1}, {"beta1", 0.8}, {"weight_decay", 0.02}};
  apply_override(config, "schedule.type=cosine");
  EXPECT_EQ(config["schedule"], json({{"type", "cosine"}}));
  apply_override(config, "optimizer.type=sgd");
  EXPECT_EQ(config["optimizer"], json({{"type", "sgd"}, {"lr", 0.1}, {"weight_decay", 0.02}}));
  const auto c = parse_train_config(config);
  EXPECT_EQ(c.schedule.type, "cosine");
  EXPECT_EQ(c.optimizer.type, "sgd");
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 0.1);

  // Keys the new variant takes stay, whatever their order; an absent object is created.
  config["schedule"] = {{"type", "cosine"}, {"warmup_steps", 5}};
  apply_override(config, "schedule.gamma=0.3");
  apply_override(config, "schedule.type=step");
  EXPECT_EQ(config["schedule"], json({{"type", "step"}, {"gamma", 0.3}}));
  config.erase("schedule");
  apply_override(config, "schedule.type=step");
  EXPECT_EQ(parse_train_config(config).schedule.step_size, 1000);

  // Still errors: a type that is no variant (nothing dropped), a key the variant does not take set by hand, and a
  // combination across objects.
  config["schedule"] = {{"type", "step"}, {"step_size", 10}};
  apply_override(config, "schedule.type=linear");
  EXPECT_EQ(config["schedule"]["step_size"], 10);
  expect_error([&] { parse_train_config(config); }, {"schedule.type", "\"linear\" is not one of"});
  apply_override(config, "schedule.type=constant");
  apply_override(config, "schedule.step_size=3");
  expect_error([&] { parse_train_config(config); }, {"unknown key schedule.step_size"});
  apply_override(config, "schedule.type=cosine");
  apply_override(config, "callbacks.reduce_lr_on_plateau.monitor=loss");
  expect_error([&] { parse_train_config(config); }, {"reduce_lr_on_plateau", "schedule.type 'cosine'"});
  // A layer's "type" is no variant of the schema: its other keys stay.
  config["model"]["layers"][0] = {{"type", "dropout"}, {"p", 0.5}};
  apply_override(config, "model.layers.0.type=linear");
  EXPECT_EQ(config["model"]["layers"][0], json({{"type", "linear"}, {"p", 0.5}}));
}
