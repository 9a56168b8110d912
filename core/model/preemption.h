#pragma once
// Preemption-safe training: a scheduler's warning signal (SLURM's `--signal=B:USR1@120`, a SIGTERM), arriving at any
// rank at any moment, becomes a stop after one and the same step on every rank, a checkpoint of that step, and a
// model::Preempted exception out of Model::fit that the caller turns into "requeue me" (tessera train: exit 75).
//
//   auto preemption = std::make_shared<model::PreemptionHandler>(model::PreemptionOptions{
//       .checkpoint = [&](model::TrainState& s) { return model_checkpoint->save(s); }});
//   try { model.fit(train, {.callbacks = {..., preemption}}); }   // last in the list: the others see the step
//   catch (const model::Preempted& p) { /* p.checkpoint() holds step p.step(); exit so the job is requeued */ }
//
// Invariants:
// - The signal handler only stores the signal's number in a lock-free std::atomic<int> (async-signal-safe, and
//   race-free on whichever thread the kernel picks); everything else runs in on_batch_end, between two steps.
// - Ranks agree on the stop: at each on_batch_end whose steps reach a multiple of check_every (every step, or every
//   CompileOptions::steps_per_execution steps; state.step is global, so the same steps on every rank) each rank
//   adds 1 if it has seen a signal to one allreduce_sum. A non-zero sum stops every
//   rank after that step; no rank ever skips the allreduce, so none is left waiting in it.
// - The stop comes after a whole optimizer step and before the next batch is taken: the checkpoint records the
//   loader's position there, so a resumed run takes exactly the steps the uninterrupted run would have taken.
// - A stop agreed at the last step of an epoch lets the epoch end as usual (validation, its checkpoint) and comes
//   right after that end (a check inside the next epoch might never come: one-step epochs, checks every epoch);
//   after the last step of training fit simply ends. So nothing of
//   an epoch's end (validation, metrics row, best.h5, EarlyStopping's count) ever sees a partial epoch, and a
//   resumed run writes the same logs and files as an uninterrupted one.
// - After the checkpoint function returns (it writes on rank 0), every rank passes one more allreduce before it
//   throws: no rank exits while rank 0 is still writing (mpirun ends the whole job when a rank exits non-zero).
//   A failed write throws on rank 0 only; the CLI's MPI_Abort then ends the others.
// - One handler at a time per process; it restores the signals' previous handlers when destroyed. A second signal
//   while the checkpoint is written changes nothing (the write goes to a temporary file renamed at the end).
#include <signal.h>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/model/callback.h"

namespace tessera::model {

struct PreemptionOptions {
  std::vector<int> signals = {SIGUSR1, SIGTERM};
  int64_t check_every = 1;  // steps between agreements (one small allreduce each)
  // Writes the checkpoint of the stop; called on every rank (the callee decides who writes, e.g. rank 0) and returns
  // the path written ("" where nothing was). Empty function: no checkpoint.
  std::function<std::string(TrainState&)> checkpoint{};
  // Once the handler has stopped a run, its destructor ignores the signals from then on instead of putting the
  // previous actions back: for a process that is ending because of the stop (`tessera train` exits 75), where a
  // second request (SLURM's SIGTERM after its SIGUSR1) arriving in MPI_Finalize would otherwise kill the rank and
  // replace exit 75 with a signal. Off by default: a library does not change a process's signal handling for good.
  bool ignore_signals_after_stop = false;
};

// Thrown out of Model::fit on every rank when training stopped for a signal.
class Preempted : public std::runtime_error {
 public:
  Preempted(int signal, int64_t ranks_signalled, int64_t step, int64_t epoch, int64_t batch_in_epoch,
            std::string checkpoint);
  int signal() const { return signal_; }                 // received by this rank (0: only other ranks got one)
  int64_t ranks_signalled() const { return ranks_signalled_; }
  std::string cause() const;  // "SIGUSR1" (this rank's signal) or "a signal on 1 other rank(s)"
  int64_t step() const { return step_; }                 // the last step taken (global)
  int64_t epoch() const { return epoch_; }               // 0-based epoch it fell in
  int64_t batch_in_epoch() const { return batch_in_epoch_; }
  const std::string& checkpoint() const { return checkpoint_; }  // the checkpoint function's result

 private:
  int signal_;
  int64_t ranks_signalled_, step_, epoch_, batch_in_epoch_;
  std::string checkpoint_;
};

// "SIGUSR1", "SIGTERM", ... ("signal N" for one without a name).
std::string signal_name(int signal);

class PreemptionHandler : public Callback {
 public:
  explicit PreemptionHandler(PreemptionOptions options = {});  // installs the handlers
  ~PreemptionHandler() override;  // puts the previous ones back (see ignore_signals_after_stop)
  PreemptionHandler(const PreemptionHandler&) = delete;
  PreemptionHandler& operator=(const PreemptionHandler&) = delete;

  void on_batch_end(TrainState& state, const Logs& logs) override;
  // A stop agreed at an epoch's last batch comes right after that epoch's end (validation, its checkpoint).
  void on_epoch_end(TrainState& state, const Logs& logs) override;
  // The first signal this process received since the handler was installed; 0 while none.
  int signal_received() const;

 private:
  PreemptionOptions options_;
  std::vector<struct sigaction> previous_;
  bool stopped_ = false;  // a Preempted was thrown
  int pending_signal_ = -1;      // >= 0: the ranks agreed on a stop at an epoch's last batch
  int64_t pending_ranks_ = 0;
  [[noreturn]] void stop(TrainState& state, int signal, int64_t ranks_signalled);
};

}  // namespace tessera::model
