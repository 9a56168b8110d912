#include "core/model/graphed_step.h"

#include "core/check.h"

namespace tessera::model {

GraphedStep::GraphedStep(Step step, int64_t warmup_steps) : step_(std::move(step)), warmup_steps_(warmup_steps) {
  TESSERA_CHECK(warmup_steps_ >= 1, "GraphedStep: at least one eager warm-up step is needed (optimizer state), got ",
                warmup_steps_);
}

// The validity mask is one more input: tessera train's Loader sends one with every batch (all true in training), and
// a padded evaluation-style batch replays the same weighted loss the eager step computes.
bool GraphedStep::matches_capture(const Batch& batch) const {
  return batch.valid.defined() == static_batch_.valid.defined() &&
         (!batch.valid.defined() || (batch.valid.shape() == static_batch_.valid.shape() &&
                                     batch.valid.dtype() == static_batch_.valid.dtype())) &&
         batch.x.shape() == static_batch_.x.shape() &&
         batch.x.dtype() == static_batch_.x.dtype() && batch.y.shape() == static_batch_.y.shape() &&
         batch.y.dtype() == static_batch_.y.dtype() && batch.x.device() == static_batch_.x.device();
}

Tensor GraphedStep::operator()(const Batch& batch) {
  if (!graph_) {
    if (eager_steps_ < warmup_steps_) {
      ++eager_steps_;
      return step_(batch);
    }
    TESSERA_CHECK(!batch.x.device().is_cpu(), "cuda_graph: the model trains on the CPU, which runs every operation at "
                  "once; CUDA graphs need the model on a GPU (\"device\": \"cuda\")");
    static_batch_ = {.x = batch.x.clone(),
                     .y = batch.y.clone(),
                     .valid = batch.valid.defined() ? batch.valid.clone() : Tensor()};
    graph_ = std::make_unique<DeviceGraph>(batch.x.device());
    graph_->capture([&] { sums_ = step_(static_batch_); });
  } else if (!matches_capture(batch)) {
    return step_(batch);
  } else {
    static_batch_.x.copy_(batch.x);
    static_batch_.y.copy_(batch.y);
    if (batch.valid.defined()) static_batch_.valid.copy_(batch.valid);
  }
  graph_->replay();
  ++replays_;
  return sums_;
}

}  // namespace tessera::model
