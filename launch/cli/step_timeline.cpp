#include "launch/cli/step_timeline.h"

#include <mpi.h>

#include "core/backend_of.h"

namespace tessera::cli {

TimelineClock TimelineClock::start(Device device) {
  MPI_Barrier(MPI_COMM_WORLD);
  TimelineClock clock{device, std::chrono::steady_clock::now(), std::nullopt};
  if (!device.is_cpu()) {
    clock.device_zero.emplace(device, /*timing=*/true);
    clock.device_zero->record();
  }
  return clock;
}

double TimelineClock::host_us(std::chrono::steady_clock::time_point t) const {
  return std::chrono::duration<double, std::micro>(t - host_zero).count();
}

double TimelineClock::device_us(void* event) const {
  return 1e3 * backend_of(device).elapsed_ms(device_zero->handle(), event);
}

void PhaseMarks::mark(const std::string& phase) {
  host_.emplace_back(phase, std::chrono::steady_clock::now());
  if (clock_.device_zero) {
    device_.emplace_back(clock_.device, /*timing=*/true);
    device_.back().record();
  }
}

void PhaseMarks::take_spans(const std::string& prefix, const nlohmann::json& args, std::vector<TraceSpan>& spans) {
  if (host_.empty()) return;
  for (size_t i = 0; i + 1 < host_.size(); ++i) {
    const std::string name = prefix + host_[i].first;
    const double start = clock_.host_us(host_[i].second);
    spans.push_back({name, "host", start, clock_.host_us(host_[i + 1].second) - start, args});
    if (clock_.device_zero) {
      const double device_start = clock_.device_us(device_[i].handle());
      spans.push_back({name, "compute stream", device_start, clock_.device_us(device_[i + 1].handle()) - device_start,
                       args});
    }
  }
  host_.erase(host_.begin(), host_.end() - 1);
  if (!device_.empty()) device_.erase(device_.begin(), device_.end() - 1);
}

void append_bucket_spans(const dist::Reducer& reducer, const TimelineClock& clock, const std::string& prefix,
                         const nlohmann::json& args, std::vector<TraceSpan>& spans) {
  const std::vector<dist::WorkPtr>& works = reducer.last_step_works();
  for (size_t b = 0; b < works.size(); ++b) {
    const std::optional<dist::WorkTiming> timing = works[b]->timing();
    if (!timing) continue;
    nlohmann::json bucket_args = args;
    bucket_args["bucket"] = b;
    bucket_args["bytes"] = reducer.buckets()[b].numel * static_cast<int64_t>(element_size(reducer.buckets()[b].dtype));
    const std::string name = prefix + "all-reduce bucket " + std::to_string(b);
    if (timing->on_device()) {
      const double start = clock.device_us(timing->device_start);
      spans.push_back({name, "NCCL stream", start, clock.device_us(timing->device_end) - start, bucket_args});
    } else {
      const double start = clock.host_us(timing->host_start);
      spans.push_back({name, "MPI thread", start, clock.host_us(timing->host_end) - start, bucket_args});
    }
  }
}

}  // namespace tessera::cli
