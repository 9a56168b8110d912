#include "io/loader_batch_source.h"

#include <algorithm>

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
  x_array_ = y_array_ = arrays.size();
  for (size_t a = 0; a < arrays.size(); ++a) {
    if (arrays[a].name == names_.x) x_array_ = a;
    if (arrays[a].name == names_.y) y_array_ = a;
  }
  TESSERA_CHECK(x_array_ < arrays.size() && (names_.y.empty() || y_array_ < arrays.size()),
                "LoaderBatchSource: the dataset reads arrays ", loader_->dataset().array_names(), " but x = '",
                names_.x, "' and y = '", names_.y, "' are needed");
}

void LoaderBatchSource::start_in_order() {
  TESSERA_CHECK(!loader_->options().shuffle, "LoaderBatchSource: Model::predict reads the samples in their stored "
                "order, but this loader shuffles them; construct it with LoaderOptions::shuffle = false");
  set_epoch(0);
}

std::optional<model::Batch> LoaderBatchSource::next() {
  auto batch = loader_->next();
  if (!batch) return std::nullopt;
  return model::Batch{.x = (*batch)[names_.x], .y = names_.y.empty() ? Tensor() : (*batch)[names_.y],
                      .valid = batch->valid};
}

Shape LoaderBatchSource::sample_shape() const { return loader_->dataset().sample_shape(x_array_); }

namespace {

Shape stored_shape(const ShardedDataset& dataset, size_t array) {
  Shape shape = dataset.stored_sample_shape(array);
  shape.insert(shape.begin(), dataset.shards()[0].rows);
  return shape;
}

}  // namespace

std::string LoaderBatchSource::describe_x() const {
  const ShardedDataset& dataset = loader_->dataset();
  return "dataset '" + names_.x + "' of file '" + dataset.shards()[0].path + "' (shape " +
         shape_str(stored_shape(dataset, x_array_)) + ", read with layout " +
         image_layout_name(dataset.layout(x_array_)) + " as samples " + shape_str(sample_shape()) + ")";
}

std::string LoaderBatchSource::x_layout_hint() const {
  const ShardedDataset& dataset = loader_->dataset();
  return channels_last_hint(dataset.layout(x_array_), stored_shape(dataset, x_array_));
}

nlohmann::json LoaderBatchSource::state() const {
  const LoaderState s = loader_->state();
  return {{"epoch", s.epoch}, {"position", s.position}, {"seed", s.seed}, {"layout", layout()}};
}

nlohmann::json LoaderBatchSource::layout() const {
  nlohmann::json files = nlohmann::json::array();
  for (const Shard& shard : loader_->dataset().shards()) files.push_back({{"path", shard.path}, {"rows", shard.rows}});
  const LoaderOptions& o = loader_->options();
  return {{"batch_size", o.batch_size}, {"world_size", o.world_size}, {"shuffle", o.shuffle},
          {"drop_last", o.drop_last}, {"files", files}};
}

void LoaderBatchSource::check_same_layout(const nlohmann::json& saved, int64_t epoch, int64_t position) const {
  const nlohmann::json now = layout();
  // The batches of an epoch are a function of the batch size, the ranks and the files: inside an epoch a change
  // would re-train or skip samples silently, or fail with a position outside the new epoch.
  auto differs = [&](const char* what, const std::string& key, const std::string& saved_text,
                     const std::string& now_text) {
    TESSERA_THROW("cannot resume inside epoch ", epoch + 1, " (after batch ", position, "): the ", what,
                  " changed since the checkpoint (", key, " was ", saved_text, ", now ", now_text,
                  "); resume with the same ", what, ", or from a checkpoint taken at the end of an epoch");
  };
  // The order too: a shuffled epoch resumed unshuffled (data.shuffle overridden on resume) reads its remaining
  // positions of another order. Checkpoints written before shuffle and drop_last were recorded lack them.
  const std::pair<const char*, const char*> settings[] = {
      {"batch_size", "batch size"}, {"world_size", "number of ranks"}, {"shuffle", "shuffling (data.shuffle)"},
      {"drop_last", "drop_last setting"}};
  for (const auto& [key, what] : settings) {
    if (saved.contains(key) && saved[key] != now[key]) differs(what, key, saved[key].dump(), now[key].dump());
  }
  if (saved.contains("files") && saved["files"] != now["files"]) {
    const auto& before = saved["files"];
    const auto& after = now["files"];
    for (size_t i = 0; i < std::max(before.size(), after.size()); ++i) {
      const std::string was = i < before.size() ? before[i].dump() : "absent";
      const std::string is = i < after.size() ? after[i].dump() : "absent";
      if (was != is) differs("set of data files", "file " + std::to_string(i), was, is);
    }
  }
}

void LoaderBatchSource::load_state(const nlohmann::json& state) {
  TESSERA_CHECK(state.is_object() && state.contains("epoch") && state.contains("position") && state.contains("seed"),
                "LoaderBatchSource::load_state: expected {epoch, position, seed}, got ", state.dump());
  const int64_t position = state["position"].get<int64_t>();
  if (position > 0 && state.contains("layout"))
    check_same_layout(state["layout"], state["epoch"].get<int64_t>(), position);
  loader_->load_state({.epoch = state["epoch"].get<int64_t>(),
                       .position = state["position"].get<int64_t>(),
                       .seed = state["seed"].get<uint64_t>()});
}

}  // namespace tessera::io
