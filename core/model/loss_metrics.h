#pragma once
// The loss Model trains with and the metrics it logs, as sums over real samples (model.h's compute step reads them
// once per step; ranks sum them before logging, so logs are exact over every rank's samples).
//
// Losses (CompileOptions::loss): "cross_entropy" (logits (N, C), i64 class labels; label_smoothing as PyTorch),
// "binary_cross_entropy" (logits, targets in [0, 1] of the output's shape, or (N) for an (N, 1) output: PyTorch's
// BCEWithLogitsLoss, Keras's BinaryCrossentropy(from_logits=True)), "mse", "l1", "huber" (huber_delta).
// Metrics: "accuracy" (argmax = label; binary: logit > 0 agrees with target > 0.5, averaged over a sample's
// outputs), "top<k>_accuracy" (e.g. top5_accuracy: fewer than k classes score above the label's; ties count as
// hits), "confusion_matrix" (evaluation only: logs confusion_matrix/<true>/<predicted> counts and per-class
// precision/<c> and recall/<c>; 0 for a class never predicted or never present).
//
// Sums layout (f64): [loss * samples, samples, one per metric other than confusion_matrix..., then C x C counts
// when the confusion matrix is computed]. For cross_entropy "samples" are the labelled target entries of real
// samples: labels equal to kIgnoreIndex are left out (as PyTorch's mean does), and an (N, d...) target (a class per
// position) counts each position, so loss and accuracy are per-position means.
#include <string>
#include <vector>

#include "core/model/callback.h"
#include "core/ops/nn_functional.h"
#include "core/tensor.h"

namespace tessera::model {

const std::vector<std::string>& loss_names();  // the losses above, in that order

// cross_entropy's ignore_index (PyTorch's default): such labels add no loss and are not counted in any log, which
// io's label check lets through (io::LabelSpec::ignore_index).
inline constexpr int64_t kIgnoreIndex = -100;

struct LossOptions {
  std::string loss = "cross_entropy";
  std::vector<std::string> metrics;
  double label_smoothing = 0.0;  // cross_entropy
  double huber_delta = 1.0;      // huber
};

class LossAndMetrics {
 public:
  explicit LossAndMetrics(LossOptions options);  // an unknown or unsuitable name is an error naming it

  // The batch's loss (mean over real samples: `valid` masks padding, undefined when all are real) and, in `sums`,
  // its sums on the device; the confusion matrix only when `evaluation`.
  Tensor compute(const Tensor& output, const Tensor& target, const Tensor& valid, bool evaluation, Tensor& sums) const;
  // Logs of summed sums (any number of batches and ranks): loss, each metric, confusion entries.
  Logs logs(const std::vector<double>& sums) const;
  // Sums of no batch at all: a training step's layout, or an evaluation's for `classes` outputs (> 0).
  std::vector<double> empty_sums(int64_t classes = 0) const {
    const size_t cells = confusion_matrix_ && classes > 0 ? static_cast<size_t>(classes * classes) : 0;
    return std::vector<double>(2 + scalar_metrics_.size() + cells, 0.0);
  }
  bool classifies() const { return options_.loss == "cross_entropy"; }

 private:
  struct ScalarMetric {
    std::string name;
    int64_t top_k;  // 1 for accuracy
  };
  Tensor loss_of(const Tensor& output, const Tensor& target, Reduction reduction) const;
  Tensor hits(const Tensor& output, const Tensor& target, int64_t top_k) const;  // per sample, f64
  LossOptions options_;
  std::vector<ScalarMetric> scalar_metrics_;
  bool confusion_matrix_ = false;
};

}  // namespace tessera::model
