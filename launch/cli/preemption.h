#pragma once
// `tessera train` under a scheduler that preempts or time-limits jobs (launch/README.md, "Preemption"): SIGUSR1 or
// SIGTERM make every rank stop after one agreed step (model::PreemptionHandler), rank 0 writes ckpt-<step>.h5 there,
// inside the epoch, prints one line saying so, and every rank exits with kExitPreempted, which launch/slurm/
// train.sbatch turns into `scontrol requeue`; the requeued job goes on with --resume=if-present.
#include <csignal>
#include <memory>
#include <vector>

#include "core/model/preemption.h"
#include "io/training/model_checkpoint.h"

namespace tessera::cli {

// EX_TEMPFAIL (sysexits.h): "a temporary failure; the user is invited to retry". Distinct from 1 (an error),
// 2 (usage) and the 128+N of a process killed by signal N.
inline constexpr int kExitPreempted = 75;

// The callbacks that make the run preemption-safe, to be appended last to fit's callbacks (they see every step
// after the others): the handler, whose checkpoint `checkpoint` writes, and before it the fault injections of the
// tests, each "<step>[,<step>...][:<rank>]": TESSERA_FAULT_SIGNAL_AT_STEP (the rank raises SIGUSR1 at the end of
// those steps; default rank: the last) and TESSERA_FAULT_HOLD_AT_STEP (the rank, default every rank, waits there
// until a signal reaches it, 60 s at most, after "fault injection: rank R holds after step S for a signal" on
// stderr). Installing the handler happens here. None without a checkpoint: with nothing to resume from, a signal
// ends the process as it would without Tessera.
std::vector<std::shared_ptr<model::Callback>> preemption_callbacks(std::shared_ptr<io::ModelCheckpoint> checkpoint);

// SIGUSR1 and SIGTERM while the job starts (MPI, config, data, model), before preemption_callbacks installs the
// handler: a StartupSignals made first thing remembers the first, and hand_over() raises it again once the handler
// is installed, so a preemption then too ends in a checkpoint and exit 75, not in a death by the signal that no job
// script requeues (every requeued job passes through this window). A second signal in the window ends the process
// (a start-up that hangs can still be stopped). Without a handler (no checkpoint.dir) the previous actions come back
// and the signal ends the process as before.
class StartupSignals {
 public:
  StartupSignals();
  // Puts the previous actions back where this class's recorder is still installed: an error before hand_over(), or
  // the PreemptionHandler, which restores the action it found (the recorder), ended. Not over the handler's SIG_IGN
  // after a stop. Declared first in run_train, so it runs after the callbacks are destroyed.
  ~StartupSignals();
  StartupSignals(const StartupSignals&) = delete;
  StartupSignals& operator=(const StartupSignals&) = delete;
  // For the tests: TESSERA_FAULT_SIGNAL_AT_START=<rank> makes that rank raise SIGUSR1 here, in the window.
  void inject_fault(int rank) const;
  // After preemption_callbacks: puts the previous actions back where no handler replaced the recorder, then raises
  // a remembered signal (to the handler, or with its previous action).
  void hand_over();

 private:
  struct sigaction usr1_ {}, term_ {};
  void restore_where_recording();
};

// The main rank prints "preempted by SIGUSR1 after step S (epoch E, batch B of N): checkpoint FILE; exit 75 ...";
// returns kExitPreempted.
int report_preemption(const model::Preempted& preempted, int64_t batches_per_epoch, bool is_main);

}  // namespace tessera::cli
