#include "launch/cli/chrome_trace.h"

#include <mpi.h>

#include <cerrno>
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
  int length = static_cast<int>(mine.size());
  std::vector<int> lengths(static_cast<size_t>(world.size)), offsets(static_cast<size_t>(world.size));
  MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string all;
  if (world.rank == 0) {
    int total = 0;
    for (int r = 0; r < world.size; ++r) {
      offsets[static_cast<size_t>(r)] = total;
      total += lengths[static_cast<size_t>(r)];
    }
    all.resize(static_cast<size_t>(total));
  }
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
