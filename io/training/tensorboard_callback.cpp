#include "io/training/tensorboard_callback.h"

#include "core/model/model.h"
#include "core/optim/optimizer.h"

namespace tessera::io {

namespace {

const char* const kEpochScalars[][2] = {{"loss", "epoch/loss"},
                                        {"accuracy", "epoch/accuracy"},
                                        {"val_loss", "epoch/val_loss"},
                                        {"val_accuracy", "epoch/val_accuracy"},
                                        {"lr", "epoch/learning_rate"},
                                        {"samples_per_sec", "epoch/samples_per_sec"},
                                        {"data_wait_seconds", "epoch/data_wait_seconds"}};

}  // namespace

TensorBoardCallback::TensorBoardCallback(std::string log_dir, TensorBoardOptions options)
    : log_dir_(std::move(log_dir)), options_(options) {}

void TensorBoardCallback::on_train_begin(model::TrainState& state) {
  if (!state.is_main || writer_) return;
  writer_ = std::make_unique<SummaryWriter>(log_dir_);
  if (!options_.config_text.empty()) writer_->add_text("config", options_.config_text, state.step);
}

void TensorBoardCallback::on_batch_end(model::TrainState& state, const model::Logs& logs) {
  if (!writer_) return;
  if (options_.histogram_every > 0 && state.step % options_.histogram_every == 0) write_histograms(state);
  if (options_.batch_every <= 0 || state.step % options_.batch_every != 0) return;
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
  for (const auto& [key, tag] : kEpochScalars) {
    if (auto it = logs.find(key); it != logs.end()) writer_->add_scalar(tag, it->second, state.step);
  }
  writer_->flush();
}

void TensorBoardCallback::on_train_end(model::TrainState&, const model::Logs&) {
  if (writer_) writer_->flush();
}

}  // namespace tessera::io
