#pragma once
// A timeline in Chrome's trace-event format (JSON; opens in Perfetto or chrome://tracing): complete events ("X")
// on named tracks, one process per rank, gathered to rank 0 and written as one file. Times are microseconds from
// a moment every rank takes together (right after a barrier), so the ranks of one machine line up.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::cli {

struct TraceSpan {
  std::string name;
  std::string track;   // e.g. "host", "compute stream", "NCCL stream", "MPI thread"
  double start_us = 0;
  double duration_us = 0;
  nlohmann::json args = nlohmann::json::object();
};

// This rank's spans as trace events (pid = rank; a thread per track, named, in order of first use).
nlohmann::json trace_events(const std::vector<TraceSpan>& spans, int rank);

// Collective over MPI_COMM_WORLD: gathers every rank's events; rank 0 writes {"traceEvents": [...], "metadata":
// metadata} to `path` (an error names the file).
void write_chrome_trace(const std::string& path, const std::vector<TraceSpan>& spans,
                        const nlohmann::json& metadata);

}  // namespace tessera::cli
