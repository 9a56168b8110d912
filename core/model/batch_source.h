#pragma once
// What Model::fit/evaluate/predict read: batches of (x, y) for this rank, one epoch at a time. io::Loader is
// adapted to it by io (core cannot depend on io); TensorBatchSource serves tensors already in memory, like
// Keras's fit(x, y).
#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/generator.h"
#include "core/tensor.h"

namespace tessera::model {

struct Batch {
  Tensor x;
  Tensor y;
  Tensor valid;  // bool (N): false marks padding that must not count in metrics; undefined = all real
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual void set_epoch(int64_t epoch) = 0;  // start that epoch from its first batch
  // Start a pass over the samples in their stored order (Model::predict: outputs line up with the inputs, as
  // Keras's predict never shuffles). Sources that do not shuffle: their epoch 0.
  virtual void start_in_order() { set_epoch(0); }
  virtual std::optional<Batch> next() = 0;   // nullopt once the epoch is over
  virtual int64_t batches_per_epoch() const = 0;
  virtual Shape sample_shape() const = 0;     // shape of one x sample (no batch dimension)
  // The epoch being read and how many of its batches were handed out (fit continues a restored source mid-epoch).
  virtual int64_t epoch() const = 0;
  virtual int64_t position() const = 0;
  // Where iteration stands, for exact resume (checkpoints); sources without state return null.
  virtual nlohmann::json state() const { return nullptr; }
  virtual void load_state(const nlohmann::json& state) {}
  // True for a source that hands every rank all the samples because nobody said how to split them (a
  // TensorBatchSource without world_size): under several ranks Model warns, as each rank would train on the same
  // batches.
  virtual bool split_unspecified() const { return false; }
};

struct TensorBatchSourceOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  uint64_t seed = 0;  // the order of epoch e is a function of (seed, e)
  // Data parallelism, as PyTorch's DistributedSampler: rank `rank` of `world_size` reads every world_size-th sample
  // of the epoch's order (the same order on every rank: keep seed equal), which is padded with its first samples to
  // a multiple of world_size; padding rows are marked in Batch::valid, so they count in no loss or metric (PyTorch
  // trains on them as duplicates; a batch's loss here is the mean over its real rows). Every rank gets the same
  // number of batches, and 2 ranks at batch b see together what one process sees at batch 2b.
  // Unset: every rank reads every sample (Model warns under several ranks); 1: each rank passes its own slice.
  std::optional<int64_t> world_size{};
  int64_t rank = 0;
};

class TensorBatchSource : public BatchSource {
 public:
  // y may be undefined (Tensor()) for Model::predict, which reads x alone; fit and evaluate need it.
  TensorBatchSource(Tensor x, Tensor y, TensorBatchSourceOptions options = {});
  void set_epoch(int64_t epoch) override;
  void start_in_order() override;
  std::optional<Batch> next() override;
  int64_t batches_per_epoch() const override;
  Shape sample_shape() const override;
  int64_t epoch() const override { return epoch_; }
  int64_t position() const override { return position_; }
  nlohmann::json state() const override { return {{"epoch", epoch_}, {"position", position_}}; }
  void load_state(const nlohmann::json& state) override;
  bool split_unspecified() const override { return !options_.world_size.has_value(); }

 private:
  Tensor x_, y_;
  TensorBatchSourceOptions options_;
  int64_t epoch_ = 0;
  int64_t position_ = 0;  // batches of this epoch already handed out
  Tensor order_;          // i64: this rank's rows of this epoch, in order (padding included)
  Tensor valid_;          // bool, beside order_: false for padding; undefined when there is none
  int64_t real_rows_ = 0;  // order_'s entries before its padding
  int64_t world_size() const { return options_.world_size.value_or(1); }
  int64_t rows_per_rank() const { return (x_.size(0) + world_size() - 1) / world_size(); }  // padding included
  void reorder(int64_t epoch, bool shuffle);
};

}  // namespace tessera::model
