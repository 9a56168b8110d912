// amp::GradScaler (core/amp/grad_scaler.h) against PyTorch's GradScaler rules: a step whose gradients hold an inf
// is skipped and halves the scale; growth_interval good steps in a row double it; and since the scale is a power
// of two, scaled training is bitwise the unscaled training with the same steps skipped. The skip is decided on the
// device (the optimizer's kernels read the flag), and the step counts are kept there, a skipped step not counted:
// Adam's bias corrections and SGD's first momentum step prove that the counts are right. Runs on every device.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <set>

#include "core/amp/grad_scaler.h"
#include "core/graph.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"
#include "core/stream.h"
#include "tests/support/allocations.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

struct Trainer {
  std::shared_ptr<nn::Linear> model;
  std::unique_ptr<optim::Optimizer> optimizer;
};

Trainer make_trainer(const MakeOptimizer& make = [](std::vector<Tensor> params) {
  return std::make_unique<optim::SGD>(std::move(params), optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
}) {
  manual_seed(8);
  auto model = std::make_shared<nn::Linear>(5, 3);
  model->to(default_device());
  return {model, make(model->parameters())};
}

Tensor batch_x(int k) {
  Generator gen(100 + k);
  return randn({4, 5}, gen, {.device = default_device()});
}

// A gradient that overflowed: one element inf.
void poison_gradient(nn::Linear& model) {
  Tensor g = model.weight().grad();
  g.select(0, 1).select(0, 2).fill_(std::numeric_limits<double>::infinity());
}

void expect_same_weights(const Trainer& a, const Trainer& b, int step) {
  EXPECT_EQ(a.model->weight().to_vector<float>(), b.model->weight().to_vector<float>()) << "step " << step;
  EXPECT_EQ(a.model->bias().to_vector<float>(), b.model->bias().to_vector<float>()) << "step " << step;
}

// Scaled training with inf injected at the `poisoned` steps against unscaled training that skips those steps: the
// same weights after every step, the scale PyTorch's rules give, and step counts of the steps taken.
void expect_skips_match_unscaled_training(const MakeOptimizer& make, const std::set<int>& poisoned) {
  Trainer scaled = make_trainer(make), plain = make_trainer(make);
  amp::GradScaler scaler({.init_scale = 1024.0, .growth_interval = 3});
  double expected_scale = 1024.0;
  int good_in_a_row = 0, taken = 0;
  for (int k = 0; k < 7; ++k) {
    const bool poison = poisoned.count(k) > 0;
    const Tensor x = batch_x(k);
    scaled.optimizer->zero_grad();
    const Tensor y = (*scaled.model)(x);
    scaler.scale((y * y).mean()).backward();
    if (poison) poison_gradient(*scaled.model);
    scaler.step(*scaled.optimizer);
    EXPECT_EQ(scaler.found_inf(), poison) << "step " << k;
    scaler.update();
    if (poison) {
      expected_scale /= 2;
      good_in_a_row = 0;
    } else if (++good_in_a_row == 3) {
      expected_scale *= 2;
      good_in_a_row = 0;
    }
    EXPECT_EQ(scaler.get_scale(), expected_scale) << "step " << k;
    EXPECT_EQ(scaler.growth_tracker(), good_in_a_row) << "step " << k;

    plain.optimizer->zero_grad();
    const Tensor y_plain = (*plain.model)(x);
    (y_plain * y_plain).mean().backward();
    if (!poison) {
      plain.optimizer->step();
      ++taken;
    }
    expect_same_weights(scaled, plain, k);
    if (k % 3 == 2) {  // else the counts stay on the device into the next step (reading them brings them back)
      EXPECT_EQ(scaled.optimizer->step_count(0), taken) << "step " << k;
      EXPECT_EQ(scaled.optimizer->state_dict().size(), plain.optimizer->state_dict().size())
          << "step " << k << ": a skipped first step must leave no state";
    }
  }
  EXPECT_EQ(scaled.optimizer->step_count(1), taken);
}

TEST(GradScaler, SkipsAnInjectedInfStepAndRecovers) {
  expect_skips_match_unscaled_training(
      [](std::vector<Tensor> params) {
        return std::make_unique<optim::SGD>(std::move(params), optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
      },
      {1});
}

// A skipped first step: SGD's first momentum step (buffer = gradient, whatever the dampening) comes at the first
// step taken, and Adam's bias corrections count only the steps taken (t = 1 at the first one).
TEST(GradScaler, SkippedStepsDoNotCountForMomentumOrBiasCorrection) {
  expect_skips_match_unscaled_training(
      [](std::vector<Tensor> params) {
        return std::make_unique<optim::SGD>(std::move(params),
                                            optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
      },
      {0, 1, 4});
  expect_skips_match_unscaled_training(
      [](std::vector<Tensor> params) {
        return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = 0.01, .amsgrad = true});
      },
      {0, 3});
  expect_skips_match_unscaled_training(
      [](std::vector<Tensor> params) {
        return std::make_unique<optim::AdamW>(std::move(params), optim::AdamWOptions{.lr = 0.01});
      },
      {2, 3});
}

TEST(GradScaler, UnscaleBeforeStepLetsTheLoopClipTrueGradients) {
  Trainer s = make_trainer();
  amp::GradScaler scaler({.init_scale = 256.0});
  s.optimizer->zero_grad();
  scaler.scale((*s.model)(batch_x(0)).sum()).backward();
  const std::vector<float> scaled = s.model->bias().grad().to_vector<float>();
  scaler.unscale_(*s.optimizer);
  const std::vector<float> unscaled = s.model->bias().grad().to_vector<float>();
  for (size_t i = 0; i < scaled.size(); ++i) EXPECT_EQ(unscaled[i] * 256.0f, scaled[i]);
  EXPECT_FALSE(scaler.found_inf());
  expect_error([&] { scaler.unscale_(*s.optimizer); }, "already called for this optimizer since the last update()");
  const std::vector<float> before = s.model->bias().to_vector<float>();
  scaler.step(*s.optimizer);  // does not unscale a second time
  scaler.update();
  const std::vector<float> after = s.model->bias().to_vector<float>();
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i], before[i] - 0.1f * unscaled[i]) << i;
  expect_error([&] { (void)scaler.found_inf(); }, "known only between unscale_ (or step) and update()");
}

// A NaN anywhere among many gradients and elements sets the flag (each block of a GPU's multi-tensor kernel checks
// its own tiles), and the scale never grows past what f32 holds.
TEST(GradScaler, FlagsANaNAmongManyGradientsAndStopsGrowingBeforeOverflow) {
  std::vector<Tensor> params;
  for (int i = 0; i < 40; ++i) params.push_back(zeros({i == 37 ? 70000 : 3 + i}, {.device = default_device()}));
  optim::SGD optimizer(params, {.lr = 1.0});
  const float big = std::ldexp(1.0f, 126);
  amp::GradScaler scaler({.init_scale = big, .growth_interval = 1});
  for (int k = 0; k < 3; ++k) {
    for (Tensor& p : params) p.set_grad(full(p.shape(), 2.0 * big, {.device = default_device()}));
    if (k == 1) params[37].grad().select(0, 69999).fill_(std::numeric_limits<double>::quiet_NaN());
    (void)scaler.scale(params[0].sum());  // the gradients stand for a scaled loss's
    scaler.unscale_(optimizer);
    if (k != 1) EXPECT_EQ(params[37].grad().to_vector<float>()[69999], 2.0f) << "step " << k;
    EXPECT_EQ(scaler.found_inf(), k == 1) << "step " << k;
    scaler.step(optimizer);
    scaler.update();
  }
  // 2^126 grew to 2^127, backed off to 2^126 at the NaN, grew to 2^127; a further doubling would be inf.
  EXPECT_EQ(scaler.get_scale(), std::ldexp(1.0, 127));
  EXPECT_EQ(params[0].to_vector<float>()[0], -4.0f) << "two steps of lr 1 on unscaled gradients of 2";
  for (Tensor& p : params) p.set_grad(full(p.shape(), 1.0, {.device = default_device()}));
  (void)scaler.scale(params[0].sum());
  scaler.unscale_(optimizer);
  scaler.step(optimizer);
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), std::ldexp(1.0, 127)) << "grew past f32's largest power of two";
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

// Gradients that no scale() multiplied would be divided by the scale all the same (65536 times too small, and
// silently so): refused in every step, where PyTorch asserts only before its first scale().
TEST(GradScaler, UnscalingWithoutAScaledLossIsAnError) {
  Trainer s = make_trainer();
  amp::GradScaler scaler;
  (*s.model)(batch_x(0)).sum().backward();
  expect_error([&] { scaler.step(*s.optimizer); }, "no scale(loss) since the last update()");
  s.optimizer->zero_grad();
  scaler.scale((*s.model)(batch_x(0)).sum()).backward();
  scaler.step(*s.optimizer);
  scaler.update();
  s.optimizer->zero_grad();
  (*s.model)(batch_x(1)).sum().backward();  // a later step that forgot to scale
  expect_error([&] { scaler.unscale_(*s.optimizer); }, "no scale(loss) since the last update()");
}

// Two optimizers on one scaler (a GAN's generator and discriminator), as PyTorch allows: an inf among one's
// gradients skips only that optimizer's step, and the scale backs off once for the step. Checked against unscaled
// training of the same two models that leaves out just the poisoned model's step.
TEST(GradScaler, TwoOptimizersSkipOnlyTheOneWithAnInfAndShareTheScale) {
  Trainer a = make_trainer(), b = make_trainer(), plain_a = make_trainer(), plain_b = make_trainer();
  amp::GradScaler scaler({.init_scale = 1024.0, .growth_interval = 2});
  const std::vector<double> expected_scale = {1024, 512, 512, 1024, 512};  // steps 1 and 4 poisoned, 2-3 good
  for (int k = 0; k < 5; ++k) {
    const bool poison_b = k == 1, poison_a = k == 4;
    for (Trainer* t : {&a, &b, &plain_a, &plain_b}) t->optimizer->zero_grad();
    scaler.scale((*a.model)(batch_x(k)).sum() + (*b.model)(batch_x(k + 10)).mean()).backward();
    if (poison_a) poison_gradient(*a.model);
    if (poison_b) poison_gradient(*b.model);
    scaler.unscale_(*a.optimizer);
    EXPECT_EQ(scaler.found_inf(), poison_a) << "step " << k << ": only a's gradients unscaled so far";
    scaler.step(*a.optimizer);
    scaler.step(*b.optimizer);  // unscales b's
    EXPECT_EQ(scaler.found_inf(), poison_a || poison_b) << "step " << k;
    expect_error([&] { scaler.step(*b.optimizer); }, "called twice for this optimizer");
    scaler.update();
    EXPECT_EQ(scaler.get_scale(), expected_scale[k]) << "step " << k;
    ((*plain_a.model)(batch_x(k)).sum() + (*plain_b.model)(batch_x(k + 10)).mean()).backward();
    if (!poison_a) plain_a.optimizer->step();
    if (!poison_b) plain_b.optimizer->step();
    expect_same_weights(a, plain_a, k);
    expect_same_weights(b, plain_b, k);
  }
  EXPECT_EQ(a.optimizer->step_count(0), 4);
  EXPECT_EQ(b.optimizer->step_count(0), 4);
  // Folding the second optimizer's flag into the one update() reads allocates nothing (a captured step must not).
  for (Trainer* t : {&a, &b}) t->optimizer->zero_grad();
  scaler.scale((*a.model)(batch_x(0)).sum() + (*b.model)(batch_x(10)).mean()).backward();
  scaler.step(*a.optimizer);
  scaler.step(*b.optimizer);
  EXPECT_EQ(testing::allocations_of([&] { scaler.update(); }), 0u);
}

TEST(GradScaler, StateRoundTripsAndBadStateIsAnError) {
  Trainer s = make_trainer();
  amp::GradScaler scaler({.init_scale = 64.0, .growth_interval = 2});
  for (int k = 0; k < 3; ++k) {
    s.optimizer->zero_grad();
    scaler.scale((*s.model)(batch_x(k)).sum()).backward();
    scaler.step(*s.optimizer);
    scaler.update();
  }
  EXPECT_EQ(scaler.get_scale(), 128.0);
  amp::GradScaler restored({.growth_interval = 2});
  restored.load_state_dict(scaler.state_dict());
  EXPECT_EQ(restored.get_scale(), 128.0);
  EXPECT_EQ(restored.growth_tracker(), 1);
  scaler.load_state_dict(restored.state_dict());  // onto state already on the device
  EXPECT_EQ(scaler.get_scale(), 128.0);
  StateDict bad;
  bad.insert("scale", host_scalar(-1.0, DType::f64));
  bad.insert("growth_tracker", host_scalar(0, DType::i64));
  expect_error([&] { restored.load_state_dict(bad); }, "invalid scale -1");
  StateDict bad_tracker;
  bad_tracker.insert("scale", host_scalar(8.0, DType::f64));
  bad_tracker.insert("growth_tracker", host_scalar(2, DType::i64));
  expect_error([&] { restored.load_state_dict(bad_tracker); }, "invalid growth_tracker 2 (growth_interval 2)");
  expect_error([&] { restored.load_state_dict(StateDict()); }, "missing \"scale\"");
  expect_error([] { amp::GradScaler({.backoff_factor = 2.0}); }, "backoff_factor must be in (0, 1)");
  expect_error([] { amp::GradScaler({.init_scale = 1e39}); }, "init_scale must be a positive f32 number");
}

TEST(GradScaler, DisabledIsAPassThrough) {
  Trainer s = make_trainer();
  amp::GradScaler scaler({.enabled = false});
  const Tensor loss = (*s.model)(batch_x(0)).sum();
  EXPECT_EQ(scaler.scale(loss).to_vector<float>(), loss.to_vector<float>());
  loss.backward();
  scaler.step(*s.optimizer);
  scaler.update();
  EXPECT_EQ(s.optimizer->step_count(0), 1);
  expect_error([&] {
    amp::GradScaler enabled;
    enabled.update();
  }, "call step(optimizer) first");
}

// The whole scaled step (scale, backward, unscale, the step the device may skip, update) captured once and
// replayed: replays equal eager steps, an inf in a replay's batch skips that replay's update on the device, and
// the step counts come out right (counted on the device; read only after some replays). Also captured right after
// warm-up steps that were all skipped: the optimizer's state is then only zeros and its counts 0, which the replays
// must treat as no state (SGD's first momentum step, Adam's bias corrections from 1).
// The reference is unscaled eager training that leaves the poisoned batches out.
void expect_graph_replays_equal_eager_steps(const MakeOptimizer& make, const std::set<int>& poisoned) {
  Trainer graphed = make_trainer(make), plain = make_trainer(make);
  amp::GradScaler scaler({.init_scale = 1024.0, .growth_interval = 2});
  auto batch = [&](int k) {
    Tensor x = batch_x(k);
    if (poisoned.count(k)) x.select(0, 2).select(0, 1).fill_(std::numeric_limits<double>::infinity());
    return x;
  };
  auto run = [&](const Tensor& x) {
    graphed.optimizer->zero_grad();
    const Tensor y = (*graphed.model)(x);
    scaler.scale((y * y).mean()).backward();
    scaler.step(*graphed.optimizer);
    scaler.update();
  };
  int taken = 0;
  double scale = 1024.0;  // PyTorch's rule with growth_interval 2
  int good_in_a_row = 0;
  auto reference_step = [&](int k) {
    if (poisoned.count(k)) {
      scale /= 2;
      good_in_a_row = 0;
      return;
    }
    if (++good_in_a_row == 2) {
      scale *= 2;
      good_in_a_row = 0;
    }
    plain.optimizer->zero_grad();
    const Tensor y = (*plain.model)(batch(k));
    (y * y).mean().backward();
    plain.optimizer->step();
    ++taken;
  };
  for (int k = 0; k < 2; ++k) {  // eager warm-up: state, and the counts on the device
    run(batch(k));
    reference_step(k);
  }
  // Read between the warm-up and the capture (a checkpoint callback does): the counts come to the host, stay on the
  // device, and a parameter whose steps were all skipped counts 0 but keeps its state for the capture.
  EXPECT_EQ(graphed.optimizer->step_count(0), taken);
  EXPECT_EQ(graphed.optimizer->state_dict().size(), plain.optimizer->state_dict().size());
  Tensor x = batch(2).clone();
  DeviceGraph graph(default_device());
  graph.capture([&] { run(x); });
  for (int k = 2; k < 9; ++k) {
    x.copy_(batch(k));
    graph.replay();
    reference_step(k);
    expect_same_weights(graphed, plain, k);
    EXPECT_EQ(scaler.get_scale(), scale) << "step " << k;
    if (k == 5 || k == 8) EXPECT_EQ(graphed.optimizer->step_count(0), taken) << "step " << k;
  }
}

TEST(GradScaler, GraphReplaysSkipOnTheDeviceAsEagerStepsDo) {
  if (default_device().is_cpu()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  expect_graph_replays_equal_eager_steps([](std::vector<Tensor> params) {
    return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = 0.01});
  }, {3, 6});
}

TEST(GradScaler, AGraphCapturedAfterOnlySkippedStepsStartsTheStateAtItsFirstTakenStep) {
  if (default_device().is_cpu()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  expect_graph_replays_equal_eager_steps([](std::vector<Tensor> params) {
    return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = 0.01, .amsgrad = true});
  }, {0, 1, 4});
  expect_graph_replays_equal_eager_steps([](std::vector<Tensor> params) {
    return std::make_unique<optim::SGD>(std::move(params),
                                        optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  }, {0, 1, 4});
}

// Plain steps, loss-scaled steps (one skipped) and a state_dict reload between them, against plain steps that leave
// the skipped one out: the counts move between the host (a plain step, a load) and the device without being lost.
TEST(GradScaler, PlainStepsLoadedStateAndLossScaledStepsShareOneCount) {
  auto make = [](std::vector<Tensor> params) {
    return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = 0.01});
  };
  Trainer mixed = make_trainer(make), plain = make_trainer(make);
  const Tensor ok = zeros({}, {.device = default_device()}), inf = full({}, 1.0, {.device = default_device()});
  auto backward = [](Trainer& t, int k) {
    t.optimizer->zero_grad();
    const Tensor y = (*t.model)(batch_x(k));
    (y * y).mean().backward();
  };
  int taken = 0;
  for (int k = 0; k < 7; ++k) {
    backward(mixed, k);
    backward(plain, k);
    if (k == 5) mixed.optimizer->load_state_dict(mixed.optimizer->state_dict());  // a resume, in place
    if (k == 1 || k == 3 || k == 6) mixed.optimizer->step();  // 3: right after the skipped step
    else mixed.optimizer->step_unless(k == 2 ? inf : ok);
    if (k != 2) {
      plain.optimizer->step();
      ++taken;
    }
    expect_same_weights(mixed, plain, k);
  }
  EXPECT_EQ(mixed.optimizer->step_count(0), taken);
}

// A plain step() takes its first-step flags from the host's count and a graph keeps them: captured after steps that
// were all skipped (count 0), every replay would be a first step. So that capture is refused, naming the parameter.
TEST(GradScaler, APlainStepCapturedAfterOnlySkippedStepsIsAnError) {
  if (default_device().is_cpu()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  Trainer t = make_trainer();  // SGD with momentum
  t.optimizer->zero_grad();
  const Tensor y = (*t.model)(batch_x(0));
  (y * y).mean().backward();
  t.optimizer->step_unless(full({}, 1.0, {.device = default_device()}));
  EXPECT_EQ(t.optimizer->step_count(0), 0);
  DeviceGraph graph(default_device());
  expect_error([&] { graph.capture([&] { t.optimizer->step(); }); },
               "before parameter 0 had an eager step that counted");
}

// A step_unless queued on a side stream counts there; reading the counts from the compute stream waits for it (a
// GPU, and the test device, may run the side stream's work after the compute stream's).
TEST(GradScaler, CountsReadFromTheComputeStreamWaitForAStepOnASideStream) {
  if (default_device().is_cpu()) GTEST_SKIP() << "the CPU runs everything at once: no late streams";
  const Device device = default_device();
  Trainer trainer = make_trainer([](std::vector<Tensor> params) {
    return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = 0.01});
  });
  const Tensor no_inf = zeros({}, {.device = device});
  const Stream side = Stream::create(device);
  for (int k = 0; k < 3; ++k) {
    trainer.optimizer->zero_grad();
    const Tensor y = (*trainer.model)(batch_x(k));
    (y * y).mean().backward();
    if (k < 2) {
      trainer.optimizer->step_unless(no_inf);
      continue;
    }
    Event gradients_ready(device);
    gradients_ready.record();
    const StreamGuard guard(side);
    gradients_ready.wait();
    trainer.optimizer->step_unless(no_inf);
  }
  EXPECT_EQ(trainer.optimizer->step_count(0), 3);
  EXPECT_EQ(trainer.optimizer->state_dict().at("state.0.step").item<int64_t>(), 3);
}

}  // namespace
}  // namespace tessera
