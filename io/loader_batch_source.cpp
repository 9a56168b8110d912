#include "io/loader_batch_source.h"

namespace tessera::io {

namespace {

// An integer y is what Model's classification loss takes (cross_entropy: i64 class indices; mse takes floats), so
// it is checked as class labels when the dataset is opened, unless its spec says how already.
DatasetOptions with_labels_marked(DatasetOptions dataset, const std::string& y) {
  for (ArraySpec& spec : dataset.arrays) {
    const bool integer = !is_floating(spec.dtype) && spec.dtype != DType::boolean;
    if (spec.name == y && integer && !spec.labels) spec.labels = LabelSpec{};
  }
  return dataset;
}

}  // namespace

LoaderBatchSource::LoaderBatchSource(DatasetOptions dataset, LoaderOptions options, BatchSourceNames names)
    : LoaderBatchSource(std::make_shared<Loader>(with_labels_marked(std::move(dataset), names.y), options), names) {}

LoaderBatchSource::LoaderBatchSource(std::shared_ptr<Loader> loader, BatchSourceNames names)
    : loader_(std::move(loader)), names_(std::move(names)) {
  const auto& arrays = loader_->dataset().arrays();
  bool has_y = false;
  x_array_ = arrays.size();
  for (size_t a = 0; a < arrays.size(); ++a) {
    if (arrays[a].name == names_.x) x_array_ = a;
    has_y = has_y || arrays[a].name == names_.y;
  }
  TESSERA_CHECK(x_array_ < arrays.size() && has_y, "LoaderBatchSource: the dataset reads arrays ",
                loader_->dataset().array_names(), " but x = '", names_.x, "' and y = '", names_.y, "' are needed");
}

std::optional<model::Batch> LoaderBatchSource::next() {
  auto batch = loader_->next();
  if (!batch) return std::nullopt;
  return model::Batch{.x = (*batch)[names_.x], .y = (*batch)[names_.y], .valid = batch->valid};
}

Shape LoaderBatchSource::sample_shape() const { return loader_->dataset().sample_shape(x_array_); }

nlohmann::json LoaderBatchSource::state() const {
  const LoaderState s = loader_->state();
  return {{"epoch", s.epoch}, {"position", s.position}, {"seed", s.seed}};
}

void LoaderBatchSource::load_state(const nlohmann::json& state) {
  TESSERA_CHECK(state.is_object() && state.contains("epoch") && state.contains("position") && state.contains("seed"),
                "LoaderBatchSource::load_state: expected {epoch, position, seed}, got ", state.dump());
  loader_->load_state({.epoch = state["epoch"].get<int64_t>(),
                       .position = state["position"].get<int64_t>(),
                       .seed = state["seed"].get<uint64_t>()});
}

}  // namespace tessera::io
