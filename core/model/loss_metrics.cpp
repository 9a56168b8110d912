#include "core/model/loss_metrics.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include "core/amp/autocast.h"
#include "core/autograd/grad_mode.h"
#include "core/check.h"
#include "core/ops.h"

namespace tessera::model {

namespace {

// "top5_accuracy" -> 5; 0 for any other name.
int64_t top_k_of(const std::string& metric) {
  std::smatch match;
  static const std::regex pattern("top([1-9][0-9]*)_accuracy");
  return std::regex_match(metric, match, pattern) ? std::stoll(match[1]) : 0;
}

// Per sample: the mean over a sample's elements (samples of one element stay as they are).
Tensor mean_per_sample(const Tensor& per_element) {
  return per_element.dim() > 1 ? per_element.flatten(1).mean({1}) : per_element;
}

}  // namespace

const std::vector<std::string>& loss_names() {
  static const std::vector<std::string> names = {"cross_entropy", "binary_cross_entropy", "mse", "l1", "huber"};
  return names;
}

LossAndMetrics::LossAndMetrics(LossOptions options) : options_(std::move(options)) {
  const std::string& loss = options_.loss;
  TESSERA_CHECK(std::find(loss_names().begin(), loss_names().end(), loss) != loss_names().end(),
                "Model::compile: unknown loss '", loss, "' (expected cross_entropy, binary_cross_entropy, mse, l1 or "
                "huber)");
  TESSERA_CHECK(options_.label_smoothing >= 0 && options_.label_smoothing <= 1,
                "Model::compile: label_smoothing must be in [0, 1], got ", options_.label_smoothing);
  TESSERA_CHECK(options_.label_smoothing == 0 || loss == "cross_entropy",
                "Model::compile: label_smoothing applies to cross_entropy only, not ", loss);
  TESSERA_CHECK(options_.huber_delta > 0, "Model::compile: huber_delta must be positive, got ", options_.huber_delta);
  for (const auto& metric : options_.metrics) {
    const int64_t k = metric == "accuracy" ? 1 : top_k_of(metric);
    if (metric == "confusion_matrix" || k > 1) {
      TESSERA_CHECK(classifies(), "Model::compile: metric '", metric, "' needs the cross_entropy loss, not ", loss);
    } else {
      TESSERA_CHECK(k == 1, "Model::compile: unknown metric '", metric,
                    "' (expected accuracy, top<k>_accuracy such as top5_accuracy, or confusion_matrix)");
      TESSERA_CHECK(classifies() || loss == "binary_cross_entropy", "Model::compile: metric 'accuracy' needs a "
                    "classification loss (cross_entropy or binary_cross_entropy), not ", loss);
    }
    if (metric == "confusion_matrix") {
      confusion_matrix_ = true;
    } else {
      scalar_metrics_.push_back({metric, k});
    }
  }
}

Tensor LossAndMetrics::loss_of(const Tensor& output, const Tensor& target, Reduction reduction) const {
  const std::string& loss = options_.loss;
  if (loss == "cross_entropy") return cross_entropy(output, target, reduction, kIgnoreIndex, options_.label_smoothing);
  if (loss == "binary_cross_entropy") return binary_cross_entropy_with_logits(output, target, reduction);
  if (loss == "mse") return mse_loss(output, target, reduction);
  if (loss == "l1") return l1_loss(output, target, reduction);
  return huber_loss(output, target, reduction, options_.huber_delta);
}

Tensor LossAndMetrics::hits(const Tensor& output, const Tensor& target, int64_t top_k) const {
  if (!classifies()) return mean_per_sample(eq(gt(output, 0.0), gt(target, 0.5)).to(DType::f64));
  // Per target entry (N) or (N, d...); an ignored label's entry is any value here, its weight is 0.
  if (top_k == 1) return eq(argmax(output, 1), target).to(DType::f64);
  const Tensor label_score = gather(output, 1, clamp(target, 0.0, static_cast<double>(output.size(1) - 1)).unsqueeze(1));
  const Tensor above = gt(output, label_score).to(DType::f64).sum({1});
  return lt(above, static_cast<double>(top_k)).to(DType::f64);
}

Tensor LossAndMetrics::compute(const Tensor& output, const Tensor& raw_target, const Tensor& valid, bool evaluation,
                               Tensor& sums) const {
  // Element-wise losses compare same-shaped tensors: an (N) target for an (N, 1) output, integer labels as numbers.
  Tensor target = raw_target;
  if (!classifies()) {
    if (target.shape() != output.shape() && target.numel() == output.numel()) target = target.reshape(output.shape());
    // A bf16/f16 output (an autocast forward) compares with an f32 target, as PyTorch's mse_loss(output, y) does
    // under autocast (the loss runs in f32): rounding the target to the output's dtype would bias the loss, and
    // under f16 turn a target above 65504 into inf (a loss-scaled run then skips every step).
    const DType target_dtype = amp::casts_to_f32({&output}) ? DType::f32 : output.dtype();
    if (target.dtype() != target_dtype) target = target.to(target_dtype);
  }
  const int64_t n = output.size(0);
  Tensor loss;
  // What counts: 1 for real samples, 0 for padding; undefined when every sample is real. For cross_entropy it has
  // the target's shape and also drops labels equal to ignore_index, which PyTorch's mean leaves out: the logged loss,
  // accuracy and confusion matrix are over the labelled entries (each position of an (N, d...) target is one), as
  // torch.nn.functional.cross_entropy(reduction="mean") and a masked accuracy compute them.
  Tensor weight;
  if (classifies()) {
    Tensor labelled = ne(target, full({}, static_cast<double>(kIgnoreIndex), {.dtype = target.dtype(),
                                                                             .device = target.device()}));
    if (valid.defined()) {
      Shape broadcast(static_cast<size_t>(target.dim()), 1);
      broadcast[0] = n;
      labelled = labelled.to(DType::f32) * valid.to(DType::f32).reshape(broadcast);
    }
    weight = labelled.to(DType::f32);
  } else if (valid.defined()) {
    weight = valid.to(DType::f32);
  }
  if (!valid.defined()) {
    loss = loss_of(output, target, Reduction::mean);  // the plain mean, as a hand-written PyTorch loop computes it
  } else {
    // cross_entropy's unreduced loss is already per entry; element-wise losses average each sample's elements.
    const Tensor unreduced = loss_of(output, target, Reduction::none);
    const Tensor per_entry = classifies() ? unreduced : mean_per_sample(unreduced);
    const Tensor w = weight.to(per_entry.dtype());
    // The mean over counted entries; a batch of padding only (count 0, sum 0) contributes no gradient.
    const Tensor count = w.sum().detach();
    loss = (per_entry * w).sum() / clamp(count, 1.0, std::nullopt);
  }
  NoGradGuard no_grad;
  const TensorOptions f64{.dtype = DType::f64, .device = output.device()};
  const Tensor weight64 = weight.defined() ? weight.to(DType::f64) : Tensor();
  const Tensor samples = weight.defined() ? weight64.sum() : full({}, static_cast<double>(n), f64);
  // A batch with nothing to count (every label ignored) adds 0, not the NaN of PyTorch's empty mean.
  const Tensor loss64 = loss.detach().to(DType::f64);
  std::vector<Tensor> parts = {where(gt(samples, 0.0), loss64 * samples, zeros({}, f64)), samples};
  for (const auto& metric : scalar_metrics_) {
    const Tensor h = hits(output, target, metric.top_k);
    parts.push_back((weight.defined() ? h * weight64 : h).sum());
  }
  sums = stack(parts);
  if (evaluation && confusion_matrix_) {
    const int64_t classes = output.size(1);
    // An ignored label's cell is any valid one (class 0's), counted with weight 0.
    const Tensor cell = clamp(target, 0.0, static_cast<double>(classes - 1)) *
                            full({}, static_cast<double>(classes), {.dtype = DType::i64, .device = output.device()}) +
                        argmax(output, 1);
    const Tensor counts = weight.defined() ? weight64 : full(cell.shape(), 1.0, f64);
    sums = cat({sums, scatter_add(zeros({classes * classes}, f64), 0, cell.flatten(), counts.flatten())}, 0);
  }
  return loss;
}

Logs LossAndMetrics::logs(const std::vector<double>& sums) const {
  Logs logs;
  const double count = std::max(sums.at(1), 1.0);
  logs["loss"] = sums[0] / count;
  for (size_t i = 0; i < scalar_metrics_.size(); ++i) logs[scalar_metrics_[i].name] = sums.at(2 + i) / count;
  const size_t cells = sums.size() - 2 - scalar_metrics_.size();
  if (cells == 0) return logs;
  const auto classes = static_cast<size_t>(std::llround(std::sqrt(static_cast<double>(cells))));
  TESSERA_CHECK(classes * classes == cells, "LossAndMetrics::logs: ", cells, " confusion cells are not a square");
  const double* matrix = sums.data() + 2 + scalar_metrics_.size();  // [true][predicted]
  for (size_t c = 0; c < classes; ++c) {
    double predicted = 0, present = 0;
    for (size_t other = 0; other < classes; ++other) {
      predicted += matrix[other * classes + c];
      present += matrix[c * classes + other];
      logs["confusion_matrix/" + std::to_string(c) + "/" + std::to_string(other)] = matrix[c * classes + other];
    }
    const double correct = matrix[c * classes + c];
    logs["precision/" + std::to_string(c)] = predicted > 0 ? correct / predicted : 0.0;
    logs["recall/" + std::to_string(c)] = present > 0 ? correct / present : 0.0;
  }
  return logs;
}

}  // namespace tessera::model
