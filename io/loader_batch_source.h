#pragma once
// LoaderBatchSource: an io::Loader as the BatchSource that Model::fit/evaluate/predict read
// (core/model/batch_source.h; core cannot depend on io, so the adapter lives here).
//
//   io::LoaderBatchSource train({.files = {"data/fmnist/train-*.h5"},
//                                .arrays = {{.name = "x", .rank = 4, .scale = 1.0 / 255}, {.name = "y", .dtype = DType::i64}}},
//                               {.batch_size = 64, .seed = 1, .rank = world.rank, .world_size = world.size});
//   model.fit(train, {.epochs = 10});
//
// x and y are the arrays named by `x_name` / `y_name` (defaults "x" and "y"); the batch's validity mask is passed
// on, so evaluation-mode padding does not count in metrics. state() is the Loader's {epoch, position, seed}.
// An integer y (Model's cross_entropy takes i64 class indices) is checked as class labels in every row when the
// dataset is opened (ArraySpec::labels, io/label_check.h: whole numbers in [0, classes) or ignore_index, with the
// class count from y's `classes` attribute unless the spec gives one), so a bad label in a test set fails before
// training starts, naming its file, dataset and row. io cannot see the model: once it is built, the caller passes
// its number of outputs to check_labels_below (no label is read again).
#include <memory>
#include <string>

#include "core/model/batch_source.h"
#include "io/loader.h"

namespace tessera::io {

struct BatchSourceNames {
  std::string x = "x";
  std::string y = "y";  // "": unlabelled (batches without y: Model::predict)
};

class LoaderBatchSource : public model::BatchSource {
 public:
  LoaderBatchSource(DatasetOptions dataset, LoaderOptions options, BatchSourceNames names = {});
  explicit LoaderBatchSource(std::shared_ptr<Loader> loader, BatchSourceNames names = {});

  void set_epoch(int64_t epoch) override { loader_->set_epoch(epoch); }
  // Model::predict: epoch 0 in stored order; a shuffling loader cannot give it, so it is an error, not shuffled rows.
  void start_in_order() override;
  std::optional<model::Batch> next() override;
  int64_t batches_per_epoch() const override { return loader_->batches_per_epoch(); }
  Shape sample_shape() const override;
  int64_t epoch() const override { return loader_->state().epoch; }
  int64_t position() const override { return loader_->state().position; }
  nlohmann::json state() const override;
  void load_state(const nlohmann::json& state) override;

  Loader& loader() { return *loader_; }
  size_t x_array() const { return x_array_; }  // x's index among loader().dataset().arrays()
  size_t y_array() const { return y_array_; }  // y's index, arrays().size() when the source reads no y
  // "dataset 'x' of file 'a.h5' (shape [n, 64, 16, 1], read with layout nchw as samples [64, 16, 1])", for errors
  // about x's shape.
  std::string describe_x() const;
  // io::channels_last_hint for x: non-empty when x is read as nchw but its shape looks channels-last.
  std::string x_layout_hint() const;
  // Every label of y lies below `classes` (e.g. the model's outputs; `source` says so in the error), else an
  // error naming the file, dataset and row. y must be class labels (an integer y).
  void check_labels_below(int64_t classes, const std::string& source) const {
    loader_->dataset().check_labels_below(y_array_, classes, source);
  }

 private:
  // What an epoch's batches depend on: batch size, ranks, shuffle, drop_last and the files (path and rows), saved
  // with the state (the seed is in the state itself).
  nlohmann::json layout() const;
  // A state from inside an epoch must meet the same layout: an error naming what changed.
  void check_same_layout(const nlohmann::json& saved, int64_t epoch, int64_t position) const;
  std::shared_ptr<Loader> loader_;
  BatchSourceNames names_;
  size_t x_array_ = 0;  // indices of x and y among the dataset's arrays
  size_t y_array_ = 0;
};

}  // namespace tessera::io
