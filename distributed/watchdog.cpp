#include "distributed/watchdog.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/check.h"
#include "distributed/bootstrap.h"

namespace tessera::dist {

namespace {

std::string format_seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", seconds);
  return text;
}

}  // namespace

std::chrono::milliseconds resolve_collective_timeout(std::chrono::milliseconds requested) {
  if (requested.count() >= 0) return requested;
  const char* text = std::getenv(kCollectiveTimeoutVar);
  if (!text || !*text) return kDefaultCollectiveTimeout;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  TESSERA_CHECK(end != text && *end == '\0' && std::isfinite(seconds) && seconds >= 0, kCollectiveTimeoutVar, "='",
                text, "' is not a number of seconds >= 0 (0 turns the watchdog off)");
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0)));
}

Watchdog::Watchdog(WatchdogOptions options) : options_(std::move(options)) {
  if (options_.timeout.count() <= 0) return;
  if (options_.rank < 0 || options_.size < 0) {
    options_.rank = world().rank;
    options_.size = world().size;
  }
  if (!options_.on_timeout) options_.on_timeout = [](const std::string& message) { abort_job(message); };
  if (options_.stuck_poll_limit.count() < 0)
    options_.stuck_poll_limit = std::max<std::chrono::milliseconds>(options_.timeout, std::chrono::seconds(30));
  thread_ = std::thread([this] { run(); });
  try {
    monitor_ = std::thread([this] { monitor(); });
  } catch (...) {  // no thread to be had (EAGAIN): no destructor runs, and a joinable thread_ would terminate
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
    throw;
  }
}

// The sweep first, the monitor after: a sweep stuck in a poll never joins, and the monitor must still end the job.
Watchdog::~Watchdog() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  {
    std::lock_guard lock(poll_mutex_);
    monitor_stop_ = true;
  }
  monitor_wake_.notify_all();
  monitor_.join();
}

Watchdog::Ticket Watchdog::start(const CollectiveCall& call, std::function<bool()> poll_completed) {
  if (!thread_.joinable()) return 0;
  std::lock_guard lock(mutex_);
  const Ticket ticket = ++next_ticket_;
  entries_.emplace(ticket, Entry{call, std::chrono::steady_clock::now(), std::move(poll_completed)});
  return ticket;
}

void Watchdog::finish(Ticket ticket) {
  if (!thread_.joinable()) return;
  std::lock_guard lock(mutex_);
  entries_.erase(ticket);
}

size_t Watchdog::in_flight() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::string Watchdog::timeout_message(const Entry& entry, std::chrono::steady_clock::duration elapsed) const {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const double limit = std::chrono::duration<double>(options_.timeout).count();
  return "collective timeout on rank " + std::to_string(options_.rank) + " of " + std::to_string(options_.size) +
         " (" + options_.backend + " backend): " + entry.call.describe() + " has not completed after " +
         format_seconds(seconds) + " (" + kCollectiveTimeoutVar + "=" + format_seconds(limit) +
         "). Another rank may have died, be stuck, or have issued different collectives; ending the job.";
}

void Watchdog::fire(const std::string& message) {
  if (!fired_.exchange(true)) options_.on_timeout(message);
}

bool Watchdog::poll(const Entry& entry) {
  {
    std::lock_guard lock(poll_mutex_);
    polling_ = &entry.call;
    poll_started_ = std::chrono::steady_clock::now();
  }
  const bool completed = entry.poll_completed();
  std::lock_guard lock(poll_mutex_);
  polling_ = nullptr;
  return completed;
}

// Looks a few times per limit (at least every 5 s) whether the sweep's current poll has been running too long.
void Watchdog::monitor() {
  const auto limit = options_.stuck_poll_limit;
  const auto interval = std::clamp<std::chrono::milliseconds>(limit / 4, std::chrono::milliseconds(10),
                                                              std::chrono::milliseconds(5000));
  std::unique_lock lock(poll_mutex_);
  while (!monitor_wake_.wait_for(lock, interval, [&] { return monitor_stop_; })) {
    if (polling_ == nullptr || fired_) continue;
    const auto elapsed = std::chrono::steady_clock::now() - poll_started_;
    if (elapsed <= limit) continue;
    const std::string message =
        "collective watchdog on rank " + std::to_string(options_.rank) + " of " + std::to_string(options_.size) +
        " (" + options_.backend + " backend): checking whether " + polling_->describe() + " has completed has not "
        "returned after " + format_seconds(std::chrono::duration<double>(elapsed).count()) + " (a CUDA or NCCL call "
        "blocked: the GPU may be stuck in a collective another rank never joined); ending the job.";
    lock.unlock();  // the handler may take time (abort_job never returns)
    fire(message);
    return;
  }
}

// Wakes a few times per timeout (at most once a second, at least every 10 ms), so a timeout fires within about
// 5% of its limit without costing anything measurable.
void Watchdog::run() {
  const auto interval = std::clamp<std::chrono::milliseconds>(options_.timeout / 20, std::chrono::milliseconds(10),
                                                              std::chrono::milliseconds(1000));
  std::unique_lock lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, interval, [&] { return stop_; });
    if (stop_ || fired_) continue;
    const auto now = std::chrono::steady_clock::now();
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.poll_completed && poll(it->second)) {
        it = entries_.erase(it);
        continue;
      }
      if (now - it->second.started > options_.timeout) {
        const std::string message = timeout_message(it->second, now - it->second.started);
        lock.unlock();  // the handler may take time (abort_job never returns); do not hold up start()/finish()
        fire(message);
        lock.lock();
        break;
      }
      ++it;
    }
  }
}

}  // namespace tessera::dist
