#include "launch/cli/preemption.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/check.h"
#include "core/model/model.h"

namespace tessera::cli {

namespace {

// TESSERA_FAULT_SIGNAL_AT_STEP: a real signal (raise), at a step a test can name, on a rank other than the one that
// writes the checkpoint: the ranks must agree on the stop through the handler's allreduce.
class RaiseSignalAtStep : public model::Callback {
 public:
  RaiseSignalAtStep(int64_t step, int rank) : step_(step), rank_(rank) {}
  void on_batch_end(model::TrainState& state, const model::Logs&) override {
    const model::ParallelContext& parallel = state.model->parallel();
    const int rank = rank_ >= 0 ? rank_ : parallel.size() - 1;
    if (state.step == step_ && parallel.rank() == rank) std::raise(SIGUSR1);
  }

 private:
  int64_t step_;
  int rank_;  // -1: the last rank
};

std::shared_ptr<model::Callback> signal_fault_injection() {
  const char* text = std::getenv("TESSERA_FAULT_SIGNAL_AT_STEP");
  if (!text || !*text) return nullptr;
  const std::string value = text;
  const size_t colon = value.find(':');
  try {
    return std::make_shared<RaiseSignalAtStep>(std::stoll(value.substr(0, colon)),
                                               colon == std::string::npos ? -1 : std::stoi(value.substr(colon + 1)));
  } catch (const std::exception&) {
    TESSERA_THROW("TESSERA_FAULT_SIGNAL_AT_STEP: expected <step>[:<rank>], got '", value, "'");
  }
}

}  // namespace

std::vector<std::shared_ptr<model::Callback>> preemption_callbacks(std::shared_ptr<io::ModelCheckpoint> checkpoint) {
  if (!checkpoint) return {};
  std::vector<std::shared_ptr<model::Callback>> callbacks;
  if (auto fault = signal_fault_injection()) callbacks.push_back(fault);
  callbacks.push_back(std::make_shared<model::PreemptionHandler>(model::PreemptionOptions{
      .checkpoint = [checkpoint](model::TrainState& state) { return checkpoint->save(state); }}));
  return callbacks;
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
