#include "io/training/tensorboard_callback.h"

#include "core/model/model.h"
#include "core/optim/optimizer.h"

namespace tessera::io {

namespace {

// TensorBoard's tag of an epoch log: epoch/<key>, with Keras's name for the learning rate.
std::string epoch_tag(const std::string& key) { return key == "lr" ? "epoch/learning_rate" : "epoch/" + key; }

bool is_confusion_cell(const std::string& key) { return key.find("confusion_matrix/") != std::string::npos; }

// The validation confusion matrix as a Markdown table (rows: true class, columns: predicted).
std::string confusion_table(const model::Logs& logs, int64_t classes) {
  std::string table = "| true \\ predicted |";
  for (int64_t p = 0; p < classes; ++p) table += " " + std::to_string(p) + " |";
  table += "\n|---|";
  for (int64_t p = 0; p < classes; ++p) table += "---|";
  for (int64_t t = 0; t < classes; ++t) {
    table += "\n| " + std::to_string(t) + " |";
    for (int64_t p = 0; p < classes; ++p) {
      const double count = logs.at("val_confusion_matrix/" + std::to_string(t) + "/" + std::to_string(p));
      table += " " + std::to_string(static_cast<int64_t>(count)) + " |";
    }
  }
  return table;
}

}  // namespace

TensorBoardCallback::TensorBoardCallback(std::string log_dir, TensorBoardOptions options)
    : log_dir_(std::move(log_dir)), options_(options) {}

void TensorBoardCallback::on_train_begin(model::TrainState& state) {
  if (!state.is_main || writer_) return;
  // Every run's file starts a session at its first step: the first run's marks the directory's start; a resumed
  // run's hides what the interrupted run logged after the checkpoint (steps this run trains and logs again).
  writer_ = std::make_unique<SummaryWriter>(log_dir_, SummaryWriterOptions{.purge_step = state.step + 1});
  if (!options_.config_text.empty()) writer_->add_text("config", options_.config_text, state.step);
}

void TensorBoardCallback::on_batch_end(model::TrainState& state, const model::Logs& logs) {
  if (!writer_) return;
  if (state.reached_multiple_of(options_.histogram_every)) write_histograms(state);
  if (!state.reached_multiple_of(options_.batch_every)) return;
  if (auto it = logs.find("batch_loss"); it != logs.end()) writer_->add_scalar("batch/loss", it->second, state.step);
  writer_->add_scalar("batch/learning_rate", state.optimizer->lr(), state.step);
}

void TensorBoardCallback::write_histograms(model::TrainState& state) {
  for (const auto& [name, parameter] : state.model->module().named_parameters()) {
    writer_->add_histogram("weights/" + name, parameter.to_vector<double>(), state.step);
    if (parameter.grad().defined()) writer_->add_histogram("gradients/" + name, parameter.grad().to_vector<double>(), state.step);
  }
}

void TensorBoardCallback::on_epoch_end(model::TrainState& state, const model::Logs& logs) {
  if (!writer_) return;
  for (const auto& [key, value] : logs) {
    if (!is_confusion_cell(key)) writer_->add_scalar(epoch_tag(key), value, state.step);
  }
  if (const int64_t classes = model::confusion_classes(logs, "val_"); classes > 0) {
    writer_->add_text("val_confusion_matrix", confusion_table(logs, classes), state.step);
  }
  writer_->flush();
}

void TensorBoardCallback::on_train_end(model::TrainState&, const model::Logs&) {
  if (writer_) writer_->flush();
}

}  // namespace tessera::io
