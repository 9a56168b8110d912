#include "launch/cli/preemption.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "core/check.h"
#include "core/model/model.h"

namespace tessera::cli {

namespace {

// A fault injection's "<step>[,<step>...][:<rank>]": the steps it acts after, and the rank (-1: none named).
struct FaultAt {
  std::vector<int64_t> steps;
  int rank = -1;
  // Whether one of its steps ran since the previous on_batch_end (several, with steps_per_execution).
  bool at(const model::TrainState& state) const {
    return std::any_of(steps.begin(), steps.end(), [&](int64_t step) {
      return step <= state.step && step > state.step - state.steps_since_last_batch_end;
    });
  }
};

std::optional<FaultAt> fault_from_environment(const char* name) {
  const char* text = std::getenv(name);
  if (!text || !*text) return std::nullopt;
  const std::string value = text;
  const size_t colon = value.find(':');
  FaultAt fault;
  try {
    std::stringstream steps(value.substr(0, colon));
    for (std::string step; std::getline(steps, step, ',');) fault.steps.push_back(std::stoll(step));
    if (colon != std::string::npos) fault.rank = std::stoi(value.substr(colon + 1));
  } catch (const std::exception&) {
    fault.steps.clear();
  }
  TESSERA_CHECK(!fault.steps.empty(), name, ": expected <step>[,<step>...][:<rank>], got '", value, "'");
  return fault;
}

// TESSERA_FAULT_SIGNAL_AT_STEP: a real signal (raise), at a step a test can name, on a rank other than the one that
// writes the checkpoint: the ranks must agree on the stop through the handler's allreduce.
class RaiseSignalAtStep : public model::Callback {
 public:
  explicit RaiseSignalAtStep(FaultAt fault) : fault_(std::move(fault)) {}
  void on_batch_end(model::TrainState& state, const model::Logs&) override {
    const model::ParallelContext& parallel = state.model->parallel();
    const int rank = fault_.rank >= 0 ? fault_.rank : parallel.size() - 1;
    if (fault_.at(state) && parallel.rank() == rank) std::raise(SIGUSR1);
  }

 private:
  FaultAt fault_;
};

// TESSERA_FAULT_HOLD_AT_STEP: the rank (default: every rank) waits after the step until a signal has reached it,
// 60 s at most, so a test that signals from outside (mpirun, SLURM) stops the run at a known step however fast the
// machine trains. It says so on stderr, which is what such a test waits for.
class HoldForSignalAtStep : public model::Callback {
 public:
  HoldForSignalAtStep(FaultAt fault, std::shared_ptr<const model::PreemptionHandler> handler)
      : fault_(std::move(fault)), handler_(std::move(handler)) {}
  void on_batch_end(model::TrainState& state, const model::Logs&) override {
    const int rank = state.model->parallel().rank();
    if (!fault_.at(state) || (fault_.rank >= 0 && rank != fault_.rank)) return;
    std::fprintf(stderr, "fault injection: rank %d holds after step %lld for a signal\n", rank,
                 static_cast<long long>(state.step));
    std::fflush(stderr);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!handler_->signal_received() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

 private:
  FaultAt fault_;
  std::shared_ptr<const model::PreemptionHandler> handler_;
};

}  // namespace

std::vector<std::shared_ptr<model::Callback>> preemption_callbacks(std::shared_ptr<io::ModelCheckpoint> checkpoint) {
  if (!checkpoint) return {};
  auto handler = std::make_shared<model::PreemptionHandler>(model::PreemptionOptions{
      .checkpoint = [checkpoint](model::TrainState& state) { return checkpoint->save(state); },
      .ignore_signals_after_stop = true});  // the process exits 75 next: a second request must not kill it
  std::vector<std::shared_ptr<model::Callback>> callbacks;
  if (auto fault = fault_from_environment("TESSERA_FAULT_SIGNAL_AT_STEP")) {
    callbacks.push_back(std::make_shared<RaiseSignalAtStep>(*fault));
  }
  if (auto fault = fault_from_environment("TESSERA_FAULT_HOLD_AT_STEP")) {
    callbacks.push_back(std::make_shared<HoldForSignalAtStep>(*fault, handler));
  }
  callbacks.push_back(handler);
  return callbacks;
}

namespace {
std::atomic<int> g_startup_signal{0};
// The first signal is kept for the handler; a second one (a start-up that hangs, `timeout` or mpirun asking again)
// ends the process as it would have without Tessera (signal() and raise() are async-signal-safe).
extern "C" void record_startup_signal(int signal) {
  int none = 0;
  if (g_startup_signal.compare_exchange_strong(none, signal)) return;
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}
}  // namespace

StartupSignals::StartupSignals() {
  struct sigaction action {};
  action.sa_handler = record_startup_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &action, &usr1_);
  sigaction(SIGTERM, &action, &term_);
}

StartupSignals::~StartupSignals() { restore_where_recording(); }

void StartupSignals::restore_where_recording() {
  for (const auto& [signal, previous] : {std::pair{SIGUSR1, &usr1_}, std::pair{SIGTERM, &term_}}) {
    struct sigaction current {};
    if (sigaction(signal, nullptr, &current) == 0 && current.sa_handler == record_startup_signal)
      sigaction(signal, previous, nullptr);
  }
}

void StartupSignals::inject_fault(int rank) const {
  const char* text = std::getenv("TESSERA_FAULT_SIGNAL_AT_START");
  if (text && *text && std::atoi(text) == rank) std::raise(SIGUSR1);
}

void StartupSignals::hand_over() {
  restore_where_recording();  // a handler installed since keeps its action
  if (const int signal = g_startup_signal.exchange(0)) std::raise(signal);
}

int report_preemption(const model::Preempted& preempted, int64_t batches_per_epoch, bool is_main) {
  if (is_main) {
    std::printf("preempted by %s after step %lld (epoch %lld, batch %lld of %lld): checkpoint %s; exit %d, "
                "to be resumed with --resume\n",
                preempted.cause().c_str(),
                static_cast<long long>(preempted.step()), static_cast<long long>(preempted.epoch() + 1),
                static_cast<long long>(preempted.batch_in_epoch()), static_cast<long long>(batches_per_epoch),
                preempted.checkpoint().c_str(), kExitPreempted);
    std::fflush(stdout);
  }
  return kExitPreempted;
}

}  // namespace tessera::cli
