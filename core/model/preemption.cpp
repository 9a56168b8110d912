#include "core/model/preemption.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/check.h"
#include "core/model/model.h"

namespace tessera::model {

namespace {

// What the handler may touch: a lock-free atomic of static storage (async-signal-safe). Not a volatile
// sig_atomic_t: the kernel runs the handler on any thread of the process (the loader's reader, the communication
// thread, the watchdog), and a volatile written on one thread and read on another is a data race.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free atomic");
std::atomic<bool> g_installed{false};

extern "C" void record_signal(int signal) {
  int none = 0;
  g_signal.compare_exchange_strong(none, signal);  // the first signal wins
}

std::string cause_of(int signal, int64_t ranks_signalled) {
  return signal ? signal_name(signal) : "a signal on " + std::to_string(ranks_signalled) + " other rank(s)";
}

}  // namespace

std::string signal_name(int signal) {
  if (const char* abbreviation = sigabbrev_np(signal)) return std::string("SIG") + abbreviation;
  return "signal " + std::to_string(signal);
}

Preempted::Preempted(int signal, int64_t ranks_signalled, int64_t step, int64_t epoch, int64_t batch_in_epoch,
                     std::string checkpoint)
    : std::runtime_error("training preempted by " + cause_of(signal, ranks_signalled) + " after step " +
                         std::to_string(step)),
      signal_(signal),
      ranks_signalled_(ranks_signalled),
      step_(step),
      epoch_(epoch),
      batch_in_epoch_(batch_in_epoch),
      checkpoint_(std::move(checkpoint)) {}

PreemptionHandler::PreemptionHandler(PreemptionOptions options) : options_(std::move(options)) {
  TESSERA_CHECK(options_.check_every >= 1, "PreemptionHandler: check_every must be >= 1, got ", options_.check_every);
  TESSERA_CHECK(!g_installed.exchange(true), "PreemptionHandler: another handler is installed in this process");
  g_signal = 0;
  struct sigaction action {};
  action.sa_handler = record_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // interrupted reads and waits go on
  previous_.resize(options_.signals.size());
  for (size_t i = 0; i < options_.signals.size(); ++i) {
    if (sigaction(options_.signals[i], &action, &previous_[i]) != 0) {
      const int error = errno;
      for (size_t j = 0; j < i; ++j) sigaction(options_.signals[j], &previous_[j], nullptr);
      g_installed = false;
      TESSERA_THROW("PreemptionHandler: cannot handle signal ", options_.signals[i], ": ", std::strerror(error));
    }
  }
}

PreemptionHandler::~PreemptionHandler() {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  const bool keep_ignoring = stopped_ && options_.ignore_signals_after_stop;
  for (size_t i = 0; i < options_.signals.size(); ++i)
    sigaction(options_.signals[i], keep_ignoring ? &ignore : &previous_[i], nullptr);
  g_installed = false;
}

std::string Preempted::cause() const { return cause_of(signal_, ranks_signalled_); }

int PreemptionHandler::signal_received() const { return g_signal.load(); }

void PreemptionHandler::on_batch_end(TrainState& state, const Logs&) {
  if (!state.reached_multiple_of(options_.check_every)) return;
  const int signal = g_signal.load();  // read once: the vote and the report agree
  std::vector<double> signalled = {signal ? 1.0 : 0.0};
  state.model->parallel().allreduce_sum(signalled);
  if (signalled[0] == 0) return;
  // The last batch of an epoch is no stop: its end runs as usual and the stop comes right after it (on_epoch_end).
  // Waiting for a check inside the next epoch never stopped a run whose every check falls on an epoch's last batch
  // (steps_per_execution >= the steps of an epoch, one-step epochs).
  if (state.batch_in_epoch == state.batches_per_epoch) {
    pending_signal_ = signal;
    pending_ranks_ = static_cast<int64_t>(signalled[0]);
    return;
  }
  stop(state, signal, static_cast<int64_t>(signalled[0]));
}

void PreemptionHandler::on_epoch_end(TrainState& state, const Logs&) {
  if (pending_signal_ < 0) return;
  const int signal = pending_signal_;
  pending_signal_ = -1;
  if (state.stop_training || state.epoch + 1 >= state.epochs) return;  // fit ends here anyway
  stop(state, signal, pending_ranks_);
}

void PreemptionHandler::stop(TrainState& state, int signal, int64_t ranks_signalled) {
  const std::string path = options_.checkpoint ? options_.checkpoint(state) : "";
  std::vector<double> written = {1.0};
  state.model->parallel().allreduce_sum(written);  // nobody leaves before the checkpoint is complete
  stopped_ = true;
  throw Preempted(signal, ranks_signalled, state.step, state.epoch, state.batch_in_epoch, path);
}

}  // namespace tessera::model
