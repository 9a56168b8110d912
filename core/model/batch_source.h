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
};

struct TensorBatchSourceOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  uint64_t seed = 0;  // the order of epoch e is a function of (seed, e)
};

class TensorBatchSource : public BatchSource {
 public:
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

 private:
  Tensor x_, y_;
  TensorBatchSourceOptions options_;
  int64_t epoch_ = 0;
  int64_t position_ = 0;  // batches of this epoch already handed out
  Tensor order_;          // i64 permutation of this epoch
  void reorder(int64_t epoch, bool shuffle);
};

}  // namespace tessera::model
