#pragma once
// Model.fit's TensorBoard logging (Keras's TensorBoard callback), on rank 0:
//   per `batch_every` steps: batch/loss, batch/learning_rate (x = global step);
//   per epoch: every log as epoch/<key> (epoch/loss, epoch/val_accuracy, epoch/val_top5_accuracy,
//   epoch/val_precision/3, ..., epoch/learning_rate for lr; x = global step at the end of the epoch), and a
//   validation confusion matrix as the Markdown table "val_confusion_matrix";
//   per `histogram_every` steps: histograms weights/<parameter> and gradients/<parameter> (as the optimizer step
//   saw them; under f16 without clipping still multiplied by the loss scale), copied to the host;
//   at the start: `config_text` (e.g. the run's resolved config) as the text summary "config", after a session START
//   at the first step to train (SummaryWriterOptions::purge_step), so TensorBoard shows a resumed run's steps once.
#include <memory>
#include <string>

#include "core/model/callback.h"
#include "io/tensorboard/summary_writer.h"

namespace tessera::io {

struct TensorBoardOptions {
  int64_t batch_every = 10;      // 0: epoch scalars only
  int64_t histogram_every = 0;   // 0: no histograms
  std::string config_text{};     // empty: none
};

class TensorBoardCallback : public model::Callback {
 public:
  explicit TensorBoardCallback(std::string log_dir, TensorBoardOptions options = {});
  void on_train_begin(model::TrainState& state) override;
  void on_batch_end(model::TrainState& state, const model::Logs& logs) override;
  void on_epoch_end(model::TrainState& state, const model::Logs& logs) override;
  void on_train_end(model::TrainState& state, const model::Logs& logs) override;

 private:
  void write_histograms(model::TrainState& state);
  std::string log_dir_;
  TensorBoardOptions options_;
  std::unique_ptr<SummaryWriter> writer_;  // rank 0 only
};

}  // namespace tessera::io
