// amp::GradScaler (core/amp/grad_scaler.h) against PyTorch's GradScaler rules: a step whose gradients hold an inf
// is skipped and halves the scale; growth_interval good steps in a row double it; and since the scale is a power
// of two, scaled training is bitwise the unscaled training with the same steps skipped.
#include <gtest/gtest.h>

#include <limits>

#include "core/amp/grad_scaler.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

struct Trainer {
  std::shared_ptr<nn::Linear> model;
  std::unique_ptr<optim::SGD> optimizer;
};

Trainer make_trainer() {
  manual_seed(8);
  auto model = std::make_shared<nn::Linear>(5, 3);
  model->to(default_device());
  auto optimizer = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  return {model, std::move(optimizer)};
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

TEST(GradScaler, SkipsAnInjectedInfStepAndRecovers) {
  Trainer scaled = make_trainer(), plain = make_trainer();
  amp::GradScaler scaler({.init_scale = 1024.0, .growth_interval = 3});
  const std::vector<double> expected_scale = {1024, 512, 512, 512, 1024, 1024};
  for (int k = 0; k < 6; ++k) {
    const Tensor x = batch_x(k);
    scaled.optimizer->zero_grad();
    const Tensor y = (*scaled.model)(x);
    scaler.scale((y * y).mean()).backward();
    if (k == 1) poison_gradient(*scaled.model);
    const std::vector<float> before = scaled.model->weight().to_vector<float>();
    const bool stepped = scaler.step(*scaled.optimizer);
    scaler.update();
    EXPECT_EQ(stepped, k != 1) << "step " << k;
    EXPECT_EQ(scaler.get_scale(), expected_scale[k]) << "step " << k;
    if (k == 1) {
      EXPECT_EQ(scaled.model->weight().to_vector<float>(), before) << "the skipped step changed weights";
    }
    // The reference: no scaling, the same step skipped.
    plain.optimizer->zero_grad();
    const Tensor y_plain = (*plain.model)(x);
    (y_plain * y_plain).mean().backward();
    if (k != 1) plain.optimizer->step();
    EXPECT_EQ(scaled.model->weight().to_vector<float>(), plain.model->weight().to_vector<float>()) << "step " << k;
    EXPECT_EQ(scaled.model->bias().to_vector<float>(), plain.model->bias().to_vector<float>()) << "step " << k;
  }
  EXPECT_EQ(scaler.growth_tracker(), 1);
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
  expect_error([&] { scaler.unscale_(*s.optimizer); }, "already called since the last update()");
  EXPECT_TRUE(scaler.step(*s.optimizer));  // does not unscale a second time
  scaler.update();
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
  amp::GradScaler restored;
  restored.load_state_dict(scaler.state_dict());
  EXPECT_EQ(restored.get_scale(), 128.0);
  EXPECT_EQ(restored.growth_tracker(), 1);
  StateDict bad;
  bad.insert("scale", host_scalar(-1.0, DType::f64));
  bad.insert("growth_tracker", host_scalar(0, DType::i64));
  expect_error([&] { restored.load_state_dict(bad); }, "invalid scale -1");
  expect_error([&] { restored.load_state_dict(StateDict()); }, "missing \"scale\"");
  expect_error([] { amp::GradScaler({.backoff_factor = 2.0}); }, "backoff_factor must be in (0, 1)");
}

TEST(GradScaler, DisabledIsAPassThrough) {
  Trainer s = make_trainer();
  amp::GradScaler scaler({.enabled = false});
  const Tensor loss = (*s.model)(batch_x(0)).sum();
  EXPECT_EQ(scaler.scale(loss).to_vector<float>(), loss.to_vector<float>());
  loss.backward();
  EXPECT_TRUE(scaler.step(*s.optimizer));
  scaler.update();
  expect_error([&] {
    amp::GradScaler enabled;
    enabled.update();
  }, "call step(optimizer) first");
}

}  // namespace
}  // namespace tessera
