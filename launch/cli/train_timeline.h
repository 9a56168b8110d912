#pragma once
// `tessera train --timeline FILE`: a Chrome trace (Perfetto) of the first `steps` optimizer steps on every rank:
// data wait, forward, backward, optimizer, logs and callbacks, validation and checkpoint writes on the host track;
// on a GPU the same phases on the compute stream (timing events); each bucket's all-reduce (start, end, bytes) on
// the NCCL stream or the MPI thread. Ranks share a zero taken after a barrier. Recording a step on a GPU waits for
// it at its end (to read its events), so a recorded step is slower than an unrecorded one.
#include <memory>
#include <string>
#include <vector>

#include "distributed/data_parallel_context.h"
#include "launch/cli/step_timeline.h"

namespace tessera::cli {

class TrainTimeline {
 public:
  // Collective (the clock's barrier). `context` gives the reducer whose all-reduces are traced (may be null).
  TrainTimeline(Device device, int64_t steps, std::shared_ptr<const dist::DataParallelContext> context);
  void mark(const char* phase);  // FitOptions::mark and ModelCheckpointOptions::mark
  // Collective: rank 0 writes every rank's spans to `path`.
  void write(const std::string& path, const nlohmann::json& metadata);
  int64_t steps_recorded() const { return step_; }

 private:
  void close_step();
  void close_open_phase(const nlohmann::json& args);  // the last phase marked ends now
  TimelineClock clock_;
  PhaseMarks marks_;
  int64_t steps_;
  int64_t step_ = 0;
  std::shared_ptr<const dist::DataParallelContext> context_;
  std::vector<TraceSpan> spans_;
};

}  // namespace tessera::cli
