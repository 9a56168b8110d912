#include "launch/cli/train_timeline.h"

#include <cstring>

#include "core/model/model.h"

namespace tessera::cli {

TrainTimeline::TrainTimeline(Device device, int64_t steps, std::shared_ptr<const dist::DataParallelContext> context)
    : clock_(TimelineClock::start(device)), marks_(clock_), steps_(steps), context_(std::move(context)) {}

void TrainTimeline::mark(const char* phase) {
  if (step_ >= steps_) return;
  marks_.mark(phase);
  // A step is complete once its optimizer step is queued: its phases and all-reduces become spans.
  if (std::strcmp(phase, model::phase::after_step) == 0) close_step();
}

void TrainTimeline::close_step() {
  const nlohmann::json args{{"step", step_ + 1}};
  marks_.take_spans("", args, spans_);
  if (const dist::Reducer* reducer = context_ ? context_->reducer() : nullptr) {
    append_bucket_spans(*reducer, clock_, "", args, spans_);
  }
  if (++step_ == steps_) close_open_phase(args);  // the last recorded step
}

void TrainTimeline::close_open_phase(const nlohmann::json& args) {
  marks_.mark("end");
  marks_.take_spans("", args, spans_);
}

void TrainTimeline::write(const std::string& path, const nlohmann::json& metadata) {
  if (step_ < steps_) close_open_phase({{"step", step_}});  // training ended first, with fewer steps
  nlohmann::json meta = metadata;
  meta["steps_recorded"] = step_;
  write_chrome_trace(path, spans_, meta);
}

}  // namespace tessera::cli
