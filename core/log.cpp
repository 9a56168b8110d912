#include "core/log.h"

#include <atomic>
#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/check.h"

namespace tessera::log {

namespace {

constexpr const char* kNames[] = {"trace", "debug", "info", "warn", "error", "off"};

// -1 until known: read from TESSERA_LOG_LEVEL on first use.
std::atomic<int> g_level{-1};

spdlog::logger& logger() {
  // stderr, unbuffered lines; one logger per process, made on first use.
  static const std::shared_ptr<spdlog::logger> instance = [] {
    auto made = std::make_shared<spdlog::logger>("tessera", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    made->set_pattern("%l: %v");
    made->set_level(spdlog::level::trace);  // our level() filters first
    made->flush_on(spdlog::level::trace);
    return made;
  }();
  return *instance;
}

spdlog::level::level_enum to_spdlog(Level at) {
  switch (at) {
    case Level::trace: return spdlog::level::trace;
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
    case Level::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

Level parse_level(const std::string& text, const std::string& source) {
  for (int i = 0; i < 6; ++i) {
    if (text == kNames[i]) return static_cast<Level>(i);
  }
  if (text == "warning") return Level::warn;
  TESSERA_THROW(source, ": unknown log level '", text, "' (expected trace, debug, info, warn, error or off)");
}

Level level() {
  int known = g_level.load(std::memory_order_relaxed);
  if (known < 0) {
    const char* text = std::getenv("TESSERA_LOG_LEVEL");
    known = static_cast<int>(text && *text ? parse_level(text, "TESSERA_LOG_LEVEL") : Level::info);
    g_level.store(known, std::memory_order_relaxed);
  }
  return static_cast<Level>(known);
}

void set_level(Level at) { g_level.store(static_cast<int>(at), std::memory_order_relaxed); }

void set_rank(int rank, int size) {
  logger().set_pattern(fmt::format("[rank {} of {}] %l: %v", rank, size));
}

void write(Level at, const std::string& message) { logger().log(to_spdlog(at), message); }

}  // namespace tessera::log
