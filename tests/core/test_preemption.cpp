// model::PreemptionHandler in one process: a real SIGUSR1 (raise, from a callback at a chosen step) stops fit after
// that step with model::Preempted, the checkpoint function called once at exactly that state; continuing fit
// from there ends bitwise where an uninterrupted fit ends. The last batch of an epoch is never a stop (the stop
// comes one step later), a signal after the last step changes nothing, check_every delays the stop to the next
// multiple, and the process's previous signal handlers come back. The multi-rank agreement is tested under
// mpirun by tests/launch/train_preempt.sh.
#include <gtest/gtest.h>

#include <signal.h>

#include "core/model/model.h"
#include "core/model/preemption.h"
#include "core/nn/linear.h"
#include "tests/support/test_prelude.h"

using namespace tessera;
using model::Model;
using model::Preempted;
using model::PreemptionHandler;

namespace {

// A 4-class linear model on 64 fixed random samples, 4 batches of 16 per epoch.
struct LinearJob {
  Tensor x, y;
  LinearJob() {
    Generator gen(11);
    x = randn({64, 8}, gen);
    y = randint(0, 4, {64}, gen);
  }
  std::unique_ptr<Model> model() const {
    Generator init(5);
    auto m = std::make_unique<Model>(std::make_shared<nn::Linear>(8, 4, true, init));
    m->compile({.optimizer = model::adam({.lr = 0.05}), .loss = "cross_entropy", .metrics = {"accuracy"}});
    return m;
  }
  model::TensorBatchSource source() const { return model::TensorBatchSource(x, y, {.batch_size = 16, .seed = 3}); }
};

std::vector<float> weights(const Model& m) {
  std::vector<float> all;
  for (const auto& [name, tensor] : m.module().state_dict()) {
    const auto values = tensor.to_vector<float>();
    all.insert(all.end(), values.begin(), values.end());
  }
  return all;
}

// Raises `signal` at the end of step `step`, as a scheduler's signal arriving during that step would.
class RaiseAt : public model::Callback {
 public:
  RaiseAt(int64_t step, int signal = SIGUSR1) : step_(step), signal_(signal) {}
  void on_batch_end(model::TrainState& state, const model::Logs&) override {
    if (state.step == step_) ::raise(signal_);
  }

 private:
  int64_t step_;
  int signal_;
};

// Counts epoch ends and records the state the checkpoint function is called with.
struct Recorder : model::Callback {
  int epoch_ends = 0;
  std::vector<std::pair<int64_t, int64_t>> checkpoints;  // (step, batch_in_epoch)
  void on_epoch_end(model::TrainState&, const model::Logs&) override { ++epoch_ends; }
  model::PreemptionOptions options(int64_t check_every = 1) {
    return {.check_every = check_every, .checkpoint = [this](model::TrainState& state) {
              checkpoints.emplace_back(state.step, state.batch_in_epoch);
              return std::string("ckpt-") + std::to_string(state.step);
            }};
  }
};

// fit for `epochs` with a signal raised at `raise_at`; the Preempted it threw, if any.
std::optional<Preempted> fit_signalled(Model& m, model::TensorBatchSource& data, int64_t epochs, int64_t raise_at,
                                       Recorder& recorder, int64_t check_every = 1, int signal = SIGUSR1) {
  auto handler = std::make_shared<PreemptionHandler>(recorder.options(check_every));
  try {
    m.fit(data, {.epochs = epochs,
                 .callbacks = {std::shared_ptr<model::Callback>(&recorder, [](auto*) {}),
                               std::make_shared<RaiseAt>(raise_at, signal), handler}});
  } catch (const Preempted& preempted) {
    EXPECT_EQ(handler->signal_received(), signal);
    return preempted;
  }
  return std::nullopt;
}

}  // namespace

TEST(Preemption, StopsAfterTheSignalledStepAndContinuesBitwise) {
  const LinearJob job;
  auto straight = job.model();
  auto straight_data = job.source();
  straight->fit(straight_data, {.epochs = 3});

  auto stopped = job.model();
  auto data = job.source();
  Recorder recorder;
  const auto preempted = fit_signalled(*stopped, data, 3, /*raise_at=*/6, recorder);
  ASSERT_TRUE(preempted.has_value()) << "fit ended without Preempted";
  EXPECT_EQ(preempted->step(), 6);
  EXPECT_EQ(preempted->epoch(), 1);
  EXPECT_EQ(preempted->batch_in_epoch(), 2);
  EXPECT_EQ(preempted->signal(), SIGUSR1);
  EXPECT_EQ(preempted->ranks_signalled(), 1);
  EXPECT_EQ(preempted->checkpoint(), "ckpt-6");
  EXPECT_EQ(preempted->cause(), "SIGUSR1");
  EXPECT_STREQ(preempted->what(), "training preempted by SIGUSR1 after step 6");
  EXPECT_EQ(recorder.checkpoints, (std::vector<std::pair<int64_t, int64_t>>{{6, 2}}));
  EXPECT_EQ(recorder.epoch_ends, 1) << "the interrupted epoch 2 must not end (no validation, logs or best.h5)";
  EXPECT_EQ(stopped->step(), 6);
  EXPECT_EQ(stopped->epoch(), 1);
  EXPECT_EQ(data.position(), 2) << "the source stands after the last step taken";

  stopped->fit(data, {.epochs = 3});  // what a resume from the checkpoint does, in process
  EXPECT_EQ(stopped->step(), 12);
  EXPECT_EQ(weights(*stopped), weights(*straight));
}

// A signal seen at an epoch's last batch lets that epoch end as usual (validation, its logs, best.h5), then stops
// right after it: the stop never waits for a check inside the next epoch, which never comes where every check falls
// on an epoch's last batch (check_every = the steps of an epoch, one-step epochs). The resumed run is bitwise the
// uninterrupted one.
TEST(Preemption, ASignalAtAnEpochsLastBatchStopsRightAfterThatEpoch) {
  const LinearJob job;
  auto straight = job.model();
  auto straight_data = job.source();
  straight->fit(straight_data, {.epochs = 3});
  for (const int64_t check_every : {int64_t{1}, int64_t{4}}) {
    SCOPED_TRACE("check_every " + std::to_string(check_every));
    auto m = job.model();
    auto data = job.source();
    Recorder recorder;
    const auto preempted = fit_signalled(*m, data, 3, /*raise_at=*/check_every == 1 ? 4 : 5, recorder, check_every,
                                         SIGTERM);
    ASSERT_TRUE(preempted.has_value());
    const int64_t epochs_done = check_every == 1 ? 1 : 2;  // check_every 4: seen at step 8, epoch 2's last
    EXPECT_EQ(preempted->step(), 4 * epochs_done);
    EXPECT_EQ(preempted->batch_in_epoch(), 4);
    EXPECT_EQ(preempted->signal(), SIGTERM);
    EXPECT_EQ(recorder.epoch_ends, epochs_done) << "the signalled epoch ends as usual, then the run stops";
    EXPECT_EQ(recorder.checkpoints, (std::vector<std::pair<int64_t, int64_t>>{{4 * epochs_done, 4}}));
    m->fit(data, {.epochs = 3});  // what a resume from the checkpoint does, in process
    EXPECT_EQ(m->step(), 12);
    EXPECT_EQ(weights(*m), weights(*straight));
  }

  // After the last step of training there is nothing to stop: fit ends normally.
  auto finished = job.model();
  auto finished_data = job.source();
  Recorder after_last;
  EXPECT_FALSE(fit_signalled(*finished, finished_data, 2, /*raise_at=*/8, after_last).has_value());
  EXPECT_EQ(finished->step(), 8);
  EXPECT_TRUE(after_last.checkpoints.empty());
}

TEST(Preemption, ChecksEveryKStepsAndRestoresTheHandlers) {
  struct sigaction before {};
  sigaction(SIGUSR1, nullptr, &before);
  {
    const LinearJob job;
    auto m = job.model();
    auto data = job.source();
    Recorder recorder;
    const auto preempted = fit_signalled(*m, data, 3, /*raise_at=*/1, recorder, /*check_every=*/3);
    ASSERT_TRUE(preempted.has_value());
    EXPECT_EQ(preempted->step(), 3) << "signalled at step 1, seen at the next multiple of check_every";

    PreemptionHandler one;
    expect_error([] { PreemptionHandler two; }, "another handler is installed");
    expect_error([] { PreemptionHandler({.check_every = 0}); }, "check_every must be >= 1");
  }
  struct sigaction after {};
  sigaction(SIGUSR1, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler) << "the previous SIGUSR1 handler must be back";
}

// A signal that cannot be handled (SIGKILL) fails the handler's construction naming it, and the handlers already
// installed (SIGUSR1's) are put back: a later handler can still be installed.
TEST(Preemption, ASignalThatCannotBeHandledIsAnErrorAndRestoresTheOthers) {
  struct sigaction before {};
  sigaction(SIGUSR1, nullptr, &before);
  expect_error([] { PreemptionHandler handler({.signals = {SIGUSR1, SIGKILL}}); }, "cannot handle signal 9");
  struct sigaction after {};
  sigaction(SIGUSR1, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler) << "the previous SIGUSR1 handler must be back";
  PreemptionHandler later;
}

// `tessera train` exits 75 after a stop; a second request arriving meanwhile (SLURM's SIGTERM after its SIGUSR1,
// while the ranks finalize MPI) must not kill it. With ignore_signals_after_stop the stopped handler leaves the
// signals ignored; without a stop it puts the previous actions back as usual.
TEST(Preemption, AStoppedRunCanLeaveLaterSignalsIgnored) {
  struct sigaction before {}, before_term {};
  sigaction(SIGUSR1, nullptr, &before);
  sigaction(SIGTERM, nullptr, &before_term);
  const LinearJob job;
  auto options = [](bool ignore) { return model::PreemptionOptions{.ignore_signals_after_stop = ignore}; };
  { PreemptionHandler unused(options(true)); }
  struct sigaction after {};
  sigaction(SIGUSR1, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler) << "no stop: the previous action is back";
  {
    auto m = job.model();
    auto data = job.source();
    auto handler = std::make_shared<PreemptionHandler>(options(true));
    EXPECT_THROW(m->fit(data, {.epochs = 1, .callbacks = {std::make_shared<RaiseAt>(2), handler}}), Preempted);
  }
  struct sigaction usr1 {}, term {};
  sigaction(SIGUSR1, &before, &usr1);  // the previous actions back for the tests after this one
  sigaction(SIGTERM, &before_term, &term);
  EXPECT_EQ(term.sa_handler, SIG_IGN);
  ASSERT_EQ(usr1.sa_handler, SIG_IGN);  // else raising it below would end the whole test executable
  sigaction(SIGUSR1, &usr1, nullptr);
  ::raise(SIGUSR1);  // ignored: the test goes on
  sigaction(SIGUSR1, &before, nullptr);
}
