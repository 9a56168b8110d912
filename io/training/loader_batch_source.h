#pragma once
// io::Loader as the model::BatchSource that Model.fit/evaluate read (core cannot depend on io, so the adapter
// lives here). x and y are two named arrays of the Loader's dataset; in evaluation mode the Loader's validity mask
// travels with each batch so padded samples never count.
#include <memory>
#include <string>

#include "core/model/batch_source.h"
#include "io/loader.h"

namespace tessera::io {

class LoaderBatchSource : public model::BatchSource {
 public:
  LoaderBatchSource(std::shared_ptr<Loader> loader, std::string x = "x", std::string y = "y");

  void set_epoch(int64_t epoch) override { loader_->set_epoch(epoch); }
  std::optional<model::Batch> next() override;
  int64_t batches_per_epoch() const override { return loader_->batches_per_epoch(); }
  Shape sample_shape() const override;
  int64_t epoch() const override { return loader_->state().epoch; }
  int64_t position() const override { return loader_->state().position; }
  nlohmann::json state() const override;  // {"epoch", "position", "seed"}
  void load_state(const nlohmann::json& state) override;
  Loader& loader() const { return *loader_; }

 private:
  std::shared_ptr<Loader> loader_;
  std::string x_, y_;
  size_t x_index_ = 0;
};

}  // namespace tessera::io
