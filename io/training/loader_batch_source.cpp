#include "io/training/loader_batch_source.h"

#include "core/check.h"

namespace tessera::io {

LoaderBatchSource::LoaderBatchSource(std::shared_ptr<Loader> loader, std::string x, std::string y)
    : loader_(std::move(loader)), x_(std::move(x)), y_(std::move(y)) {
  const auto& arrays = loader_->dataset().arrays();
  bool has_y = false;
  for (size_t i = 0; i < arrays.size(); ++i) {
    if (arrays[i].name == x_) x_index_ = i + 1;
    if (arrays[i].name == y_) has_y = true;
  }
  TESSERA_CHECK(x_index_ > 0 && has_y, "LoaderBatchSource: the dataset has arrays ", loader_->dataset().array_names(),
                ", not both '", x_, "' and '", y_, "'");
  --x_index_;
}

std::optional<model::Batch> LoaderBatchSource::next() {
  auto batch = loader_->next();
  if (!batch) return std::nullopt;
  model::Batch out{(*batch)[x_], (*batch)[y_], Tensor()};
  if (loader_->options().evaluation) out.valid = batch->valid;
  return out;
}

Shape LoaderBatchSource::sample_shape() const { return loader_->dataset().sample_shape(x_index_); }

nlohmann::json LoaderBatchSource::state() const {
  const LoaderState s = loader_->state();
  return {{"epoch", s.epoch}, {"position", s.position}, {"seed", s.seed}};
}

void LoaderBatchSource::load_state(const nlohmann::json& state) {
  loader_->load_state({.epoch = state.at("epoch").get<int64_t>(), .position = state.at("position").get<int64_t>(),
                       .seed = state.at("seed").get<uint64_t>()});
}

}  // namespace tessera::io
