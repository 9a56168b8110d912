#pragma once
// The watchdog: a thread that watches every collective in flight and, when one has run longer than the collective
// timeout, ends the job with a message naming it ("a stuck collective becomes a clean exit").
//
//   collective timeout on rank 1 of 2 (mpi backend): allreduce(sum) of 262144 x f32 (1.0 MiB), bucket 3, step 17
//   has not completed after 61.0 s (TESSERA_COLLECTIVE_TIMEOUT=60 s) ...
//
// Invariants:
// - A collective is watched from the moment its backend starts it (start()) until finish(), or until its poll
//   function reports completion (the NCCL backend, whose work finishes asynchronously on a stream).
// - on_timeout runs at most once per Watchdog, on the watchdog thread or its monitor; the default ends the job
//   (abort_job).
// - A poll is a CUDA/NCCL call (cudaEventQuery, ncclCommGetAsyncError) that can itself block, behind another thread's
//   driver call that waits for a GPU stuck in a collective a peer never joined; the sweep holds the watchdog's lock
//   meanwhile, so nothing else would notice. A monitor thread that makes no such call ends the job when one poll has
//   not returned for stuck_poll_limit (PyTorch's ProcessGroupNCCL heartbeat monitor exists for the same reason).
// - A timeout of 0 turns watching off: no thread, start()/finish() cost nothing.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "distributed/collective_call.h"

namespace tessera::dist {

inline constexpr const char* kCollectiveTimeoutVar = "TESSERA_COLLECTIVE_TIMEOUT";
inline constexpr std::chrono::milliseconds kDefaultCollectiveTimeout{600'000};

// The timeout a communicator uses: `requested` when >= 0, else TESSERA_COLLECTIVE_TIMEOUT (seconds, may be
// fractional, 0 = off), else 600 s. A malformed variable is an error naming it.
std::chrono::milliseconds resolve_collective_timeout(std::chrono::milliseconds requested);

struct WatchdogOptions {
  std::chrono::milliseconds timeout{0};  // 0: off
  std::string backend;                   // named in the message
  int rank = -1, size = -1;              // -1: from world()
  // Receives the message; default: abort_job(message). For tests.
  std::function<void(const std::string& message)> on_timeout;
  // How long one poll may take before the monitor ends the job; below 0: the timeout, at least 30 s.
  std::chrono::milliseconds stuck_poll_limit{-1};
};

class Watchdog {
 public:
  using Ticket = uint64_t;

  explicit Watchdog(WatchdogOptions options);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Starts watching `call`. With poll_completed, the watchdog itself asks it whether the call is done (from its
  // thread, so it must be thread-safe and cheap) and finish() is optional.
  Ticket start(const CollectiveCall& call, std::function<bool()> poll_completed = {});
  void finish(Ticket ticket);
  std::chrono::milliseconds timeout() const { return options_.timeout; }
  size_t in_flight();  // collectives being watched now

 private:
  struct Entry {
    CollectiveCall call;
    std::chrono::steady_clock::time_point started;
    std::function<bool()> poll_completed;
  };
  void run();
  void monitor();
  bool poll(const Entry& entry);  // entry.poll_completed(), where the monitor can see it
  void fire(const std::string& message);  // on_timeout, unless it ran already
  std::string timeout_message(const Entry& entry, std::chrono::steady_clock::duration elapsed) const;

  WatchdogOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<Ticket, Entry> entries_;
  Ticket next_ticket_ = 0;
  bool stop_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
  // The poll running now, for the monitor (under poll_mutex_; the entry stays alive while polled, since finish()
  // needs mutex_, which the sweep holds).
  std::mutex poll_mutex_;
  std::condition_variable monitor_wake_;
  const CollectiveCall* polling_ = nullptr;
  std::chrono::steady_clock::time_point poll_started_;
  bool monitor_stop_ = false;
  std::thread monitor_;
};

}  // namespace tessera::dist
