#pragma once
// What `tessera bench ddp --timeline` and `tessera train --timeline` share: a clock every rank starts together,
// and the spans of a DDP step's bucket all-reduces where they ran (the NCCL stream from its timing events, or the
// MPI communication thread from host times). Needs the communicator made with CommunicatorOptions::timing.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/stream.h"
#include "distributed/reducer.h"
#include "launch/cli/chrome_trace.h"

namespace tessera::cli {

// Where a timeline's zero is: host time right after a barrier (every rank together), and a timing event recorded
// on the compute stream then, against which device events are read.
struct TimelineClock {
  Device device;
  std::chrono::steady_clock::time_point host_zero;
  std::optional<Event> device_zero;

  static TimelineClock start(Device device);  // collective over MPI_COMM_WORLD
  double host_us(std::chrono::steady_clock::time_point t) const;
  double device_us(void* event) const;  // waits for the event
};

// Phase marks on the host and, on a GPU, timing events on the compute stream: a phase runs from its mark to the
// next one.
class PhaseMarks {
 public:
  explicit PhaseMarks(const TimelineClock& clock) : clock_(clock) {}
  void mark(const std::string& phase);
  // Spans "<prefix><phase>" of every phase closed so far, on the tracks "host" and (GPU) "compute stream"; the
  // last mark stays open. Waits for the device events it reads.
  void take_spans(const std::string& prefix, const nlohmann::json& args, std::vector<TraceSpan>& spans);

 private:
  const TimelineClock& clock_;
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> host_;
  std::vector<Event> device_;
};

// Spans "<prefix>all-reduce bucket <b>" of the reducer's last step, with args + {bucket, bytes}.
void append_bucket_spans(const dist::Reducer& reducer, const TimelineClock& clock, const std::string& prefix,
                         const nlohmann::json& args, std::vector<TraceSpan>& spans);

}  // namespace tessera::cli
