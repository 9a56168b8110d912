#pragma once
// Normalisation layers. BatchNorm1d (input (N, C) or (N, C, L)) and BatchNorm2d ((N, C, H, W)) share one
// implementation: weight = 1, bias = 0 when affine; buffers running_mean = 0, running_var = 1 and
// num_batches_tracked = 0 (i64 scalar) when track_running_stats. In training they normalise with batch statistics
// and update the running estimates (momentum, or a cumulative average when momentum is nullopt); in eval they use
// the running estimates (batch statistics when not tracking), exactly as PyTorch.
// LayerNorm normalises over the trailing normalized_shape; weight = 1, bias = 0 when elementwise_affine.
#include <optional>

#include "core/nn/module.h"

namespace tessera::nn {

struct BatchNormOptions {
  int64_t num_features = 0;
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
};

class BatchNormBase : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  void reset_running_stats();
  void reset_parameters();

  const BatchNormOptions& options() const { return options_; }
  Tensor weight() const { return weight_; }  // undefined unless affine
  Tensor bias() const { return bias_; }
  Tensor running_mean() const { return running_mean_; }  // undefined unless track_running_stats
  Tensor running_var() const { return running_var_; }
  Tensor num_batches_tracked() const { return num_batches_tracked_; }
  std::string extra_repr() const override;

 protected:
  BatchNormOptions options_;
  explicit BatchNormBase(BatchNormOptions options);
  // Checks the input rank for the concrete layer.
  virtual void check_input(const Tensor& input) const = 0;

 private:
  Tensor weight_;
  Tensor bias_;
  Tensor running_mean_;
  Tensor running_var_;
  Tensor num_batches_tracked_;
};

class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(BatchNormOptions options) : BatchNormBase(options) {}
  explicit BatchNorm1d(int64_t num_features) : BatchNormBase({.num_features = num_features}) {}
  std::string type_name() const override { return "BatchNorm1d"; }

 protected:
  void check_input(const Tensor& input) const override;
};

class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(BatchNormOptions options) : BatchNormBase(options) {}
  explicit BatchNorm2d(int64_t num_features) : BatchNormBase({.num_features = num_features}) {}
  std::string type_name() const override { return "BatchNorm2d"; }

 protected:
  void check_input(const Tensor& input) const override;
};

struct LayerNormOptions {
  Shape normalized_shape{};
  double eps = 1e-5;
  bool elementwise_affine = true;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(LayerNormOptions options);
  explicit LayerNorm(Shape normalized_shape) : LayerNorm(LayerNormOptions{.normalized_shape = std::move(normalized_shape)}) {}
  Tensor forward(const Tensor& input) override;
  void reset_parameters();

  const LayerNormOptions& options() const { return options_; }
  Tensor weight() const { return weight_; }  // undefined unless elementwise_affine
  Tensor bias() const { return bias_; }
  std::string type_name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;

 private:
  LayerNormOptions options_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace tessera::nn
