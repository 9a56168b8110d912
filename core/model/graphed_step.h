#pragma once
// GraphedStep: Model::fit's training step as a CUDA graph (FitOptions::cuda_graph, "cuda_graph" in a config).
// The first warm-up steps run eagerly (after them the optimizer's state and the cuDNN and GEMM plans exist); the
// next step is captured (core/graph.h) over static copies of its batch, and from then on each batch of the same
// shape is copied into them and the graph replayed: one launch for the whole step. A batch's validity mask, when it
// has one (io's Loader always sends one), is copied in as a third input. A batch of another shape (a smaller last
// batch), or with a mask where the captured batch had none or the other way round, runs eagerly, so results are the
// same with or without the graph.
#include <functional>
#include <memory>

#include "core/graph.h"
#include "core/model/batch_source.h"

namespace tessera::model {

class GraphedStep {
 public:
  // Queues one training step on the batch's device and returns its log sums (device tensor); no host reads.
  using Step = std::function<Tensor(const Batch& batch)>;
  explicit GraphedStep(Step step, int64_t warmup_steps = 2);

  Tensor operator()(const Batch& batch);  // the step's log sums, valid until the next call
  int64_t replays() const { return replays_; }

 private:
  bool matches_capture(const Batch& batch) const;

  Step step_;
  int64_t warmup_steps_;
  int64_t eager_steps_ = 0;
  int64_t replays_ = 0;
  std::unique_ptr<DeviceGraph> graph_;
  Batch static_batch_;  // the graph's inputs
  Tensor sums_;         // the graph's output
};

}  // namespace tessera::model
