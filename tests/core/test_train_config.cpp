// The `tessera train` config: the issue's example parses as written, the resolved config round-trips, overrides
// land where their key path says, and every bad config is one error naming the key path and what is allowed.
#include <gtest/gtest.h>

#include "core/model/train_config.h"
#include "kernels/device_info.h"
#include "tests/support/test_prelude.h"

using namespace tessera;
using model::apply_override;
using model::parse_train_config;

namespace {

json example() {
  return json::parse(R"({"seed": 1,
   "model": {"layers": [{"type": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1}, {"type": "relu"},
                        {"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"}, {"type": "dropout", "p": 0.25},
                        {"type": "linear", "out_features": 10}]},
   "data": {"train": ["data/fmnist/train-*.h5"], "test": ["data/fmnist/test-*.h5"], "x": "x", "y": "y",
            "scale": 0.00392156862745098},
   "loss": "cross_entropy",
   "optimizer": {"type": "adamw", "lr": 0.001, "weight_decay": 0.01},
   "schedule": {"type": "cosine", "warmup_steps": 100},
   "epochs": 10, "batch_size": 64, "max_steps": 1000, "precision": "f32",
   "log_dir": "runs/fmnist-cnn", "checkpoint": {"dir": "runs/fmnist-cnn/ckpt", "keep": 3}})");
}

void expect_config_error(const std::function<void(json&)>& edit, const std::vector<std::string>& parts) {
  json config = example();
  edit(config);
  expect_error([&] { parse_train_config(config); }, parts);
}

}  // namespace

TEST(TrainConfig, IssueExampleParsesAndRoundTrips) {
  const auto c = parse_train_config(example());
  EXPECT_EQ(c.seed, 1u);
  EXPECT_EQ(c.layers.size(), 6u);
  EXPECT_EQ(c.data.train, std::vector<std::string>{"data/fmnist/train-*.h5"});
  EXPECT_DOUBLE_EQ(c.data.scale, 1.0 / 255);
  EXPECT_EQ(c.optimizer.type, "adamw");
  EXPECT_EQ(c.schedule.type, "cosine");
  EXPECT_EQ(c.schedule.warmup_steps, 100);
  EXPECT_EQ(c.max_steps, 1000);
  EXPECT_EQ(c.checkpoint.keep, 3);
  const json resolved = model::to_json(c);
  EXPECT_EQ(model::to_json(parse_train_config(resolved)), resolved);
  EXPECT_EQ(resolved["optimizer"]["beta2"], 0.999) << "defaults are filled in";
  EXPECT_EQ(resolved["optimizer"]["clip_grad_norm"], 0.0) << "no clipping unless asked";
  EXPECT_EQ(resolved["data"]["layout"], "nchw") << "images are channels-first unless declared";
}

TEST(TrainConfig, DeviceAutoTakesTheRanksGpuAndCudaNeverFallsBackToTheCpu) {
  EXPECT_EQ(parse_train_config(example()).device, "auto");
  json config = example();
  config["device"] = "tpu";
  expect_error([&] { parse_train_config(config); }, {"device", "tpu", "auto", "cpu", "cuda"});
  EXPECT_EQ(model::choose_training_device("auto", 1, 3), Device("cuda:1"));
  EXPECT_EQ(model::choose_training_device("auto", -1, 3), Device("cpu"));
  EXPECT_EQ(model::choose_training_device("cpu", 1, 3), Device("cpu"));
  EXPECT_EQ(model::choose_training_device("cuda", 0, 3), Device("cuda:0"));
  // The CUDA runtime's own reason (on CI's CUDA build, its stub driver's cudaErrorInsufficientDriver).
  const std::string why = kernels::cuda_unavailable_reason();
  expect_error([&] { model::choose_training_device("cuda", -1, 3); },
               {"device \"cuda\"", "rank 3", "no GPU", why.empty() ? "none assigned" : why});
}

TEST(TrainConfig, OverridesFollowKeyPaths) {
  json config = example();
  apply_override(config, "optimizer.lr=0.5");
  apply_override(config, "model.layers.0.out_channels=8");
  apply_override(config, "log_dir=runs/other");
  apply_override(config, "data.test=[]");
  apply_override(config, "schedule={\"type\": \"step\", \"step_size\": 10}");
  const auto c = parse_train_config(config);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 0.5);
  EXPECT_EQ(c.layers[0]["out_channels"], 8);
  EXPECT_EQ(c.log_dir, "runs/other");
  EXPECT_TRUE(c.data.test.empty());
  EXPECT_EQ(c.schedule.step_size, 10);
  expect_error([&] { apply_override(config, "model.layers.9.p=1"); }, {"model.layers.9", "not an element"});
  expect_error([&] { apply_override(config, "no_equals_sign"); }, {"no_equals_sign", "key.path=value"});
  apply_override(config, "optimizer.lrr=1");  // an unknown key is caught by the config check, with its path
  expect_error([&] { parse_train_config(config); }, {"unknown key optimizer.lrr", "allowed here: type, lr"});
}

TEST(TrainConfig, BadConfigsNameTheKeyPath) {
  expect_config_error([](json& c) { c["epoch"] = 3; }, {"unknown key epoch", "epochs"});
  expect_config_error([](json& c) { c["epochs"] = "ten"; }, {"config: epochs: expected an integer", "\"ten\""});
  expect_config_error([](json& c) { c["epochs"] = 0; }, {"config: epochs: must be at least 1"});
  expect_config_error([](json& c) { c["batch_size"] = 6.5; }, {"batch_size", "expected an integer"});
  expect_config_error([](json& c) { c["optimizer"]["type"] = "rmsprop"; },
                      {"optimizer.type", "\"rmsprop\" is not one of: sgd, adam, adamw"});
  expect_config_error([](json& c) { c["optimizer"]["momentum"] = 0.9; }, {"unknown key optimizer.momentum"});
  expect_config_error([](json& c) { c["optimizer"]["lr"] = -1; }, {"optimizer.lr", "must be positive"});
  expect_config_error([](json& c) { c["optimizer"]["clip_grad_norm"] = -1; },
                      {"optimizer.clip_grad_norm", "must not be negative"});
  expect_config_error([](json& c) { c["optimizer"]["eps"] = -1; }, {"optimizer.eps", "must not be negative"});
  expect_config_error([](json& c) { c["max_steps"] = 1e30; }, {"max_steps", "an integer in [", "1e+30"});
  expect_config_error([](json& c) { c["schedule"]["type"] = "linear"; }, {"schedule.type", "constant, cosine, step"});
  expect_config_error([](json& c) { c["data"].erase("train"); }, {"missing key data.train"});
  expect_config_error([](json& c) { c["data"]["train"] = 3; }, {"data.train", "list of strings"});
  expect_config_error([](json& c) { c["data"]["std"] = {0.5, 0}; }, {"data.std", "positive"});
  expect_config_error([](json& c) { c["data"]["layout"] = "NHWC"; },
                      {"config: data.layout", "\"NHWC\" is not one of: nchw, nhwc, auto"});
  expect_config_error([](json& c) { c["precision"] = "fp8"; }, {"precision", "\"fp8\" is not one of: f32, bf16, f16"});
  expect_config_error([](json& c) { c["loss"] = "hinge"; }, {"loss", "cross_entropy, mse"});
  expect_config_error([](json& c) { c["checkpoint"]["keep"] = 0; }, {"checkpoint.keep", "at least 1"});
  expect_config_error([](json& c) { c.erase("model"); }, {"missing key model"});
  expect_config_error([](json& c) { c["model"]["layers"] = json::array(); }, {"model.layers", "non-empty"});
  expect_config_error([](json& c) { c["model"]["name"] = "cnn"; }, {"unknown key model.name"});
  expect_error([] { parse_train_config(json::array()); }, {"the config must be a JSON object"});
}

TEST(TrainConfig, OptimizerAndScheduleFactoriesFollowTheConfig) {
  json config = example();
  apply_override(config, "optimizer={\"type\": \"sgd\", \"lr\": 0.2, \"momentum\": 0.9, \"nesterov\": true}");
  const auto c = parse_train_config(config);
  Tensor w = zeros({3}).requires_grad_();
  auto optimizer = model::make_optimizer_factory(c.optimizer)({w});
  EXPECT_EQ(optimizer->name(), "SGD");
  EXPECT_DOUBLE_EQ(optimizer->lr(), 0.2);
  const auto schedule = model::make_scheduler_factory(parse_train_config(example()).schedule)(*optimizer, 1000);
  EXPECT_EQ(schedule->name(), "WarmupCosineLR");
  EXPECT_DOUBLE_EQ(schedule->lr_at(0), 0.2 / 100);  // first warmup step
  EXPECT_DOUBLE_EQ(schedule->lr_at(1000), 0.0);
  // A run shorter than its warmup (a smoke test with max_steps 3) only warms up, as Hugging Face's schedule does.
  const auto short_run = model::make_scheduler_factory(parse_train_config(example()).schedule)(*optimizer, 3);
  EXPECT_DOUBLE_EQ(short_run->lr_at(2), short_run->base_lr() * 3 / 100);
  EXPECT_EQ(model::make_scheduler_factory(model::ScheduleConfig{}), nullptr);
}

// "optimizer" absent is adamw with adamw's own defaults, as docs/config.md says: the same resolved optimizer as
// {"type": "adamw"}, weight_decay 0.01 included (it was 0.0, the struct's default, while the docs said 0.01).
TEST(TrainConfig, AbsentOptimizerIsAdamWWithItsDefaults) {
  json absent = example();
  absent.erase("optimizer");
  json adamw = example();
  adamw["optimizer"] = {{"type", "adamw"}};
  const auto c = parse_train_config(absent);
  EXPECT_EQ(c.optimizer.type, "adamw");
  EXPECT_DOUBLE_EQ(c.optimizer.weight_decay, 0.01);
  EXPECT_EQ(model::to_json(c)["optimizer"], model::to_json(parse_train_config(adamw))["optimizer"]);
}

// Issue 15's knobs: gradient accumulation, steps_per_execution, checkpoints every N steps, EarlyStopping and ReduceLROnPlateau,
// init_from; each round-trips and each bad value names its key.
TEST(TrainConfig, TrainingKnobsParseRoundTripAndNameBadKeys) {
  json config = example();
  config["gradient_accumulation_steps"] = 4;
  config["steps_per_execution"] = 16;
  config["checkpoint"]["every_steps"] = 500;
  config["schedule"] = {{"type", "constant"}};
  config["callbacks"] = {{"early_stopping", {{"patience", 3}, {"restore_best_weights", true}, {"start_from_epoch", 2}}},
                         {"reduce_lr_on_plateau", {{"monitor", "val_accuracy"}, {"factor", 0.5}, {"patience", 2}}}};
  config["init_from"] = "runs/pretrained/ckpt/best.h5";
  const auto c = parse_train_config(config);
  EXPECT_EQ(c.gradient_accumulation_steps, 4);
  EXPECT_EQ(c.steps_per_execution, 16);
  EXPECT_EQ(c.checkpoint.every_steps, 500);
  ASSERT_TRUE(c.callbacks.early_stopping && c.callbacks.reduce_lr_on_plateau);
  EXPECT_EQ(c.callbacks.early_stopping->monitor, "val_loss");
  EXPECT_EQ(c.callbacks.early_stopping->patience, 3);
  EXPECT_TRUE(c.callbacks.early_stopping->restore_best_weights);
  EXPECT_EQ(c.callbacks.early_stopping->start_from_epoch, 2);
  EXPECT_EQ(c.callbacks.reduce_lr_on_plateau->monitor, "val_accuracy");
  EXPECT_DOUBLE_EQ(c.callbacks.reduce_lr_on_plateau->factor, 0.5);
  EXPECT_DOUBLE_EQ(c.callbacks.reduce_lr_on_plateau->min_delta, 1e-4) << "Keras's default";
  EXPECT_EQ(c.init_from.file, "runs/pretrained/ckpt/best.h5");
  const json resolved = model::to_json(c);
  EXPECT_EQ(model::to_json(parse_train_config(resolved)), resolved);
  EXPECT_EQ(model::to_json(parse_train_config(example()))["gradient_accumulation_steps"], 1);
  EXPECT_EQ(model::to_json(parse_train_config(example()))["steps_per_execution"], 1);

  expect_config_error([](json& c) { c["gradient_accumulation_steps"] = 0; }, {"gradient_accumulation_steps", "at least 1"});
  expect_config_error([](json& c) { c["steps_per_execution"] = 0; }, {"steps_per_execution", "at least 1"});
  expect_config_error([](json& c) { c["checkpoint"]["every_steps"] = -1; }, {"checkpoint.every_steps"});
  expect_config_error([](json& c) { c["callbacks"] = {{"early_stoping", json::object()}}; },
                      {"unknown key callbacks.early_stoping"});
  expect_config_error([](json& c) { c["callbacks"] = {{"reduce_lr_on_plateau", {{"factor", 1.5}}}}; },
                      {"callbacks.reduce_lr_on_plateau.factor", "(0, 1)"});
  expect_config_error(
      [](json& c) {
        c["schedule"] = {{"type", "cosine"}};
        c["callbacks"] = {{"reduce_lr_on_plateau", json::object()}};
      },
      {"callbacks.reduce_lr_on_plateau", "schedule.type 'cosine'"});
  expect_config_error(
      [](json& c) {
        c["data"]["test"] = json::array();
        c["callbacks"] = {{"early_stopping", {{"mode", "min"}}}};
      },
      {"callbacks.early_stopping.monitor", "val_loss", "data.test"});
  expect_config_error([](json& c) { c["callbacks"] = {{"early_stopping", {{"mode", "lowest"}}}}; },
                      {"callbacks.early_stopping.mode", "lowest"});
  // A log the run never writes (Keras 1's val_acc, a metric not in metrics) is an error before training, not at the
  // end of the first epoch.
  expect_config_error([](json& c) { c["callbacks"] = {{"early_stopping", {{"monitor", "val_acc"}}}}; },
                      {"callbacks.early_stopping.monitor", "'val_acc' is not a log this run writes", "val_accuracy"});
  expect_config_error([](json& c) { c["callbacks"] = {{"reduce_lr_on_plateau", {{"monitor", "top5_accuracy"}}}}; },
                      {"callbacks.reduce_lr_on_plateau.monitor", "'top5_accuracy'"});
  expect_config_error([](json& c) { c["init_from"] = {{"exclude", {"layers.5"}}}; }, {"init_from.file"});
  expect_config_error([](json& c) { c["init_from"] = ""; }, {"init_from", "empty file name"});
  expect_config_error([](json& c) { c["init_from"] = {{"file", ""}}; }, {"init_from", "empty file name"});
}

TEST(TrainConfig, LossesAndMetrics) {
  json config = example();
  config["loss"] = {{"type", "cross_entropy"}, {"label_smoothing", 0.1}};
  config["metrics"] = {"accuracy", "top5_accuracy", "confusion_matrix"};
  auto c = parse_train_config(config);
  EXPECT_EQ(c.loss, "cross_entropy");
  EXPECT_DOUBLE_EQ(c.label_smoothing, 0.1);
  EXPECT_EQ(c.metrics, (std::vector<std::string>{"accuracy", "top5_accuracy", "confusion_matrix"}));
  EXPECT_EQ(model::to_json(parse_train_config(model::to_json(c))), model::to_json(c));
  config["loss"] = {{"type", "huber"}, {"delta", 2.0}};
  config.erase("metrics");
  c = parse_train_config(config);
  EXPECT_DOUBLE_EQ(c.huber_delta, 2.0);
  EXPECT_TRUE(c.metrics.empty()) << "no accuracy for a regression loss";
  EXPECT_EQ(parse_train_config(example()).metrics, std::vector<std::string>{"accuracy"});
  expect_config_error([](json& c) { c["loss"] = "hinge"; }, {"loss", "hinge", "binary_cross_entropy"});
  expect_config_error([](json& c) { c["loss"] = {{"type", "mse"}, {"label_smoothing", 0.1}}; },
                      {"unknown key loss.label_smoothing"});
  expect_config_error([](json& c) { c["metrics"] = {"f1"}; }, {"config: loss/metrics", "unknown metric 'f1'"});
  expect_config_error([](json& c) { c["loss"] = "mse"; c["metrics"] = {"accuracy"}; }, {"config: loss/metrics", "mse"});
}
