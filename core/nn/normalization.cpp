#include "core/nn/normalization.h"

#include "core/autograd/grad_mode.h"
#include "core/nn/init.h"
#include "core/nn/repr.h"
#include "core/ops/factory.h"
#include "core/ops/nn_functional.h"

namespace tessera::nn {

BatchNormBase::BatchNormBase(BatchNormOptions options) : options_(options) {
  const int64_t c = options.num_features;
  TESSERA_CHECK(c > 0, "BatchNorm: num_features (", c, ") must be positive");
  TESSERA_CHECK(options.eps > 0, "BatchNorm: eps (", options.eps, ") must be positive");
  if (options.affine) {
    weight_ = register_parameter("weight", ones({c}));
    bias_ = register_parameter("bias", zeros({c}));
  }
  if (options.track_running_stats) {
    running_mean_ = register_buffer("running_mean", zeros({c}));
    running_var_ = register_buffer("running_var", ones({c}));
    num_batches_tracked_ =
        register_buffer("num_batches_tracked", zeros({}, {.dtype = DType::i64, .device = default_device()}));
  }
}

void BatchNormBase::reset_running_stats() {
  if (!options_.track_running_stats) return;
  init::zeros_(running_mean_);
  init::ones_(running_var_);
  init::zeros_(num_batches_tracked_);
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (!options_.affine) return;
  init::ones_(weight_);
  init::zeros_(bias_);
}

Tensor BatchNormBase::forward(const Tensor& input) {
  check_input(input);
  TESSERA_CHECK(input.size(1) == options_.num_features, str(), ": input of shape ", shape_str(input.shape()),
                " has ", input.size(1), " channels, expected ", options_.num_features);
  double factor = options_.momentum.value_or(0.0);
  if (training_ && options_.track_running_stats) {
    NoGradGuard no_grad;
    num_batches_tracked_.add_(ones({}, {.dtype = DType::i64, .device = num_batches_tracked_.device()}));
    // A cumulative average (momentum unset) needs the count on the host: an explicit copy, as in PyTorch.
    if (!options_.momentum) factor = 1.0 / static_cast<double>(num_batches_tracked_.item<int64_t>());
  }
  // Without running stats, eval mode also normalises with the batch statistics.
  const bool use_batch_stats = training_ || !options_.track_running_stats;
  return batch_norm(input, running_mean_, running_var_, weight_, bias_, use_batch_stats, factor, options_.eps);
}

std::string BatchNormBase::extra_repr() const {
  using detail::repr_value;
  const BatchNormOptions& o = options_;
  return repr_value(o.num_features) + ", eps=" + repr_value(o.eps) +
         ", momentum=" + (o.momentum ? repr_value(*o.momentum) : std::string("none")) +
         ", affine=" + repr_value(o.affine) + ", track_running_stats=" + repr_value(o.track_running_stats);
}

void BatchNorm1d::check_input(const Tensor& input) const {
  TESSERA_CHECK(input.dim() == 2 || input.dim() == 3, str(), ": expected a 2-D or 3-D input, got shape ",
                shape_str(input.shape()));
}

void BatchNorm2d::check_input(const Tensor& input) const {
  TESSERA_CHECK(input.dim() == 4, str(), ": expected a 4-D input (N, C, H, W), got shape ", shape_str(input.shape()));
}

LayerNorm::LayerNorm(LayerNormOptions options) : options_(std::move(options)) {
  TESSERA_CHECK(!options_.normalized_shape.empty() && shape_numel(options_.normalized_shape) > 0,
                "LayerNorm: normalized_shape ", shape_str(options_.normalized_shape), " must be non-empty");
  if (options_.elementwise_affine) {
    weight_ = register_parameter("weight", ones(options_.normalized_shape));
    bias_ = register_parameter("bias", zeros(options_.normalized_shape));
  }
}

void LayerNorm::reset_parameters() {
  if (!options_.elementwise_affine) return;
  init::ones_(weight_);
  init::zeros_(bias_);
}

Tensor LayerNorm::forward(const Tensor& input) {
  const Shape& ns = options_.normalized_shape;
  const int64_t lead = input.dim() - static_cast<int64_t>(ns.size());
  TESSERA_CHECK(lead >= 0 && Shape(input.shape().begin() + lead, input.shape().end()) == ns, str(),
                ": input of shape ", shape_str(input.shape()), " does not end with normalized_shape ", shape_str(ns));
  return layer_norm(input, ns, weight_, bias_, options_.eps);
}

std::string LayerNorm::extra_repr() const {
  using detail::repr_value;
  return shape_str(options_.normalized_shape) + ", eps=" + repr_value(options_.eps) +
         ", elementwise_affine=" + repr_value(options_.elementwise_affine);
}

}  // namespace tessera::nn
