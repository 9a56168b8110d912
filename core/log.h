#pragma once
// Tessera's log: leveled lines on stderr, each carrying the rank once the job knows it, formatted by fmt and written
// by spdlog (TORCH_DISTRIBUTED_DEBUG-style diagnostics without recompiling):
//   log::debug("mpi: {} done in {:.1f} us", call.describe(), microseconds);
//   -> "[rank 1 of 4] debug: mpi: allreduce(sum) of 1024 x f32 (4.0 KiB), bucket 0, step 3 done in 51.2 us"
// The level comes from TESSERA_LOG_LEVEL (trace, debug, info, warn, error, off; default info), or from
// `tessera --log-level LEVEL` (set_level). debug shows every collective as it is issued and completed, bucket
// layouts and per-step decisions; trace adds more. Lines below the level cost one comparison, nothing formatted.
#include <string>
#include <utility>

#include <fmt/format.h>

namespace tessera::log {

enum class Level { trace, debug, info, warn, error, off };

// "debug" -> Level::debug; anything else is an error naming `source` (e.g. "TESSERA_LOG_LEVEL") and the choices.
Level parse_level(const std::string& text, const std::string& source);
Level level();  // TESSERA_LOG_LEVEL when first asked (an invalid value is an error), unless set_level was called
void set_level(Level level);
void set_rank(int rank, int size);  // every later line starts with "[rank R of N]" (dist::init calls it)
inline bool enabled(Level at) { return at >= level() && level() != Level::off; }
void write(Level at, const std::string& message);

template <typename... Args>
void trace(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::trace)) write(Level::trace, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::debug)) write(Level::debug, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::info)) write(Level::info, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::warn)) write(Level::warn, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tessera::log
