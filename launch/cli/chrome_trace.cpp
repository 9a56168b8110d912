#include "launch/cli/chrome_trace.h"

#include <mpi.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>

#include "core/check.h"
#include "distributed/bootstrap.h"

namespace tessera::cli {

nlohmann::json trace_events(const std::vector<TraceSpan>& spans, int rank) {
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", rank}, {"args", {{"name", "rank " + std::to_string(rank)}}}});
  std::map<std::string, int> tracks;
  for (const TraceSpan& span : spans) {
    auto [it, added] = tracks.emplace(span.track, static_cast<int>(tracks.size()));
    if (added) {
      events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", rank}, {"tid", it->second},
                        {"args", {{"name", span.track}}}});
    }
    events.push_back({{"ph", "X"}, {"name", span.name}, {"pid", rank}, {"tid", it->second},
                      {"ts", span.start_us}, {"dur", span.duration_us}, {"args", span.args}});
  }
  return events;
}

void write_chrome_trace(const std::string& path, const std::vector<TraceSpan>& spans,
                        const nlohmann::json& metadata) {
  const auto& world = dist::world();
  const std::string mine = trace_events(spans, world.rank).dump();
  // MPI_Gatherv's counts and displacements are int: every rank learns every length (an all-gather, not a gather),
  // so all of them refuse a trace past INT_MAX bytes together instead of rank 0 alone while the others wait in
  // the Gatherv (its int sum of the lengths would overflow).
  const int64_t my_length = static_cast<int64_t>(mine.size());
  std::vector<int64_t> lengths64(static_cast<size_t>(world.size));
  MPI_Allgather(&my_length, 1, MPI_INT64_T, lengths64.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
  int64_t total = 0;
  for (int64_t l : lengths64) total += l;
  TESSERA_CHECK(total <= INT_MAX, "the timeline of every rank is ", total, " bytes, more than one MPI_Gatherv moves (",
                INT_MAX, "): record fewer steps (--timeline-steps)");
  const int length = static_cast<int>(my_length);
  std::vector<int> lengths(static_cast<size_t>(world.size)), offsets(static_cast<size_t>(world.size));
  for (int r = 0, offset = 0; r < world.size; offset += lengths[static_cast<size_t>(r)], ++r) {
    lengths[static_cast<size_t>(r)] = static_cast<int>(lengths64[static_cast<size_t>(r)]);
    offsets[static_cast<size_t>(r)] = offset;
  }
  std::string all;
  if (world.rank == 0) all.resize(static_cast<size_t>(total));
  MPI_Gatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0,
              MPI_COMM_WORLD);
  if (world.rank != 0) return;
  nlohmann::json events = nlohmann::json::array();
  for (int r = 0; r < world.size; ++r) {
    for (auto& event : nlohmann::json::parse(
             all.substr(static_cast<size_t>(offsets[static_cast<size_t>(r)]), static_cast<size_t>(lengths[static_cast<size_t>(r)]))))
      events.push_back(std::move(event));
  }
  std::ofstream out(path);
  TESSERA_CHECK(out, "cannot write the timeline file '", path, "': ", std::strerror(errno));
  out << nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ms"}, {"metadata", metadata}}.dump(1) << "\n";
  out.flush();  // a full disk shows here, not in the destructor's close
  TESSERA_CHECK(out.good(), "cannot write the timeline file '", path, "': ", std::strerror(errno));
}

}  // namespace tessera::cli
