#include "launch/cli/init_from.h"

#include "core/check.h"
#include "io/training/checkpoint.h"

namespace tessera::cli {

namespace {

bool excluded(const std::string& name, const std::vector<std::string>& prefixes) {
  for (const auto& prefix : prefixes) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

}  // namespace

size_t init_from_checkpoint(model::Model& model, const model::InitFromConfig& config) {
  const io::Checkpoint checkpoint = io::load_checkpoint(config.file);
  StateDict state;
  size_t loaded = 0;
  for (const auto& [name, tensor] : model.module().state_dict()) {
    if (excluded(name, config.exclude)) {
      state.insert(name, tensor);
      continue;
    }
    const Tensor* saved = checkpoint.model.find(name);
    TESSERA_CHECK(saved != nullptr, "config: init_from: ", config.file, " has no tensor '", name,
                  "' (add a prefix of it to init_from.exclude to keep its fresh initialisation)");
    TESSERA_CHECK(saved->shape() == tensor.shape(), "config: init_from: ", config.file, ": tensor '", name,
                  "' has shape ", shape_str(saved->shape()), ", the model's has ", shape_str(tensor.shape()),
                  " (add a prefix of it to init_from.exclude to keep its fresh initialisation)");
    state.insert(name, *saved);
    ++loaded;
  }
  model.module().load_state_dict(state);
  return loaded;
}

void load_model_weights(model::Model& model, const std::string& path, const Shape& sample_shape) {
  const io::Checkpoint checkpoint = io::load_checkpoint(path);  // its own errors name the file
  try {
    model.module().load_state_dict(checkpoint.model);
  } catch (const Error& e) {
    TESSERA_THROW("checkpoint '", path, "' does not fit the config's model as built for the data's samples of shape ",
                  shape_str(sample_shape), " (another model, the config's model changed, or data whose samples ",
                  "differ from those it was trained on): ", e.message());
  }
}

}  // namespace tessera::cli
