#include "launch/cli/resume_config.h"

#include <cstdio>
#include <map>
#include <set>

#include "core/check.h"

namespace tessera::cli {

namespace {

// Settings whose value the checkpoint's state depends on.
constexpr const char* kFixedOnResume[] = {"optimizer.type", "schedule.type", "seed"};

// Leaves of a JSON value by their --set path ("optimizer.lr", "model.layers.1.out_features").
void flatten(const nlohmann::json& value, const std::string& path, std::map<std::string, nlohmann::json>& out) {
  if (value.is_object() || value.is_array()) {
    size_t index = 0;
    for (auto it = value.begin(); it != value.end(); ++it, ++index) {
      const std::string key = value.is_object() ? it.key() : std::to_string(index);
      flatten(*it, path.empty() ? key : path + "." + key, out);
    }
    return;
  }
  out[path] = value;
}

std::string text(const std::map<std::string, nlohmann::json>& values, const std::string& key) {
  const auto it = values.find(key);
  return it == values.end() ? "(none)" : it->second.dump();
}

}  // namespace

void apply_config_on_resume(io::Checkpoint& checkpoint, const nlohmann::json& config, const model::Model& model,
                            bool print) {
  if (checkpoint.meta.contains("config")) {
    std::map<std::string, nlohmann::json> recorded, current;
    flatten(checkpoint.meta["config"], "", recorded);
    flatten(config, "", current);
    for (const char* key : kFixedOnResume) {
      TESSERA_CHECK(text(recorded, key) == text(current, key), "train --resume: ", key, " cannot change on resume (",
                    text(recorded, key), " in the checkpoint, ", text(current, key),
                    " now): the checkpoint's state belongs to the recorded value; start a fresh run instead");
    }
    std::set<std::string> keys;
    for (const auto* values : {&recorded, &current}) {
      for (const auto& [key, value] : *values) keys.insert(key);
    }
    for (const auto& key : keys) {
      if (print && text(recorded, key) != text(current, key)) {
        std::printf("override on resume: %s %s -> %s\n", key.c_str(), text(recorded, key).c_str(),
                    text(current, key).c_str());
      }
    }
    // ReduceLROnPlateau puts the rate it last set back at train begin (its state in meta "callbacks"), over the
    // optimizer's: a new optimizer.lr is the rate from now on, so that one is dropped (best, wait and cooldown stay,
    // and it reduces from the new rate). An unchanged lr keeps the reduced rate.
    if (text(recorded, "optimizer.lr") != text(current, "optimizer.lr") && checkpoint.meta.contains("callbacks")) {
      nlohmann::json& states = checkpoint.meta["callbacks"];
      if (states.is_object() && states.contains("reduce_lr_on_plateau") && states["reduce_lr_on_plateau"].is_object())
        states["reduce_lr_on_plateau"]["lr"] = nullptr;
    }
  }
  // The config's hyper-parameters over the recorded ones; the state (moments, steps, schedule position) stays.
  const StateDict fresh = model.optimizer().state_dict();
  for (const auto& [key, value] : fresh) {
    if (key.rfind("options.", 0) == 0) checkpoint.optimizer.set(key, value);
  }
  if (checkpoint.scheduler.contains("base_lr")) checkpoint.scheduler.set("base_lr", fresh.at("options.lr"));
}

}  // namespace tessera::cli
