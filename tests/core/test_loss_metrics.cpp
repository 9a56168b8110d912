// Model's losses and metrics (core/model/loss_metrics.h) against PyTorch on a batch with padding: the sums, once
// turned into logs, equal torch's cross_entropy (label smoothing), argmax accuracy, topk accuracy, a bincount
// confusion matrix with its precision and recall, and binary cross-entropy / MSE / L1 / Huber means over the real
// samples only (tests/torch_ref/metrics.py).
#include <gtest/gtest.h>

#include "core/model/loss_metrics.h"
#include "tests/support/test_prelude.h"
#include "tests/support/torch_ref.h"

using namespace tessera;
using model::LossAndMetrics;

namespace {

std::vector<double> sums_of(const LossAndMetrics& metrics, const Tensor& output, const Tensor& target,
                            const Tensor& valid) {
  Tensor sums;
  metrics.compute(output.to(default_device()), target.to(default_device()), valid.to(default_device()),
                  /*evaluation=*/true, sums);
  return sums.to_vector<double>();
}

const std::vector<int64_t> kValid = {1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1};  // two padding rows

}  // namespace

TEST(LossMetrics, ClassificationMatchesPyTorch) {
  if (!tessera::testing::torch_available()) GTEST_SKIP() << "python3 with torch not available";
  Generator gen(3);
  const Tensor logits = randn({16, 5}, gen), labels = randint(0, 5, {16}, gen);
  const LossAndMetrics metrics({.loss = "cross_entropy",
                                .metrics = {"accuracy", "top2_accuracy", "top3_accuracy", "confusion_matrix"},
                                .label_smoothing = 0.1});
  // Two batches (as evaluate adds them), then the logs of the sum.
  std::vector<double> first = sums_of(metrics, logits.narrow(0, 0, 9), labels.narrow(0, 0, 9),
                                      tensor(std::vector<int64_t>(kValid.begin(), kValid.begin() + 9)).to(DType::boolean));
  const std::vector<double> second = sums_of(metrics, logits.narrow(0, 9, 7), labels.narrow(0, 9, 7),
                                             tensor(std::vector<int64_t>(kValid.begin() + 9, kValid.end())).to(DType::boolean));
  ASSERT_EQ(first.size(), 2u + 3u + 25u);
  for (size_t i = 0; i < first.size(); ++i) first[i] += second[i];
  const model::Logs logs = metrics.logs(first);

  const json request = {{"op", "classify"}, {"logits", tessera::testing::tensor_to_json(logits)},
                        {"labels", tessera::testing::tensor_to_json(labels)}, {"valid", kValid},
                        {"label_smoothing", 0.1}, {"top_k", {2, 3}}};
  const json torch = tessera::testing::run_torch_script("metrics.py", json::array({request}))[0];
  EXPECT_NEAR(logs.at("loss"), torch["loss"].get<double>(), 1e-6);
  EXPECT_DOUBLE_EQ(logs.at("accuracy"), torch["accuracy"].get<double>());
  EXPECT_DOUBLE_EQ(logs.at("top2_accuracy"), torch["top_k"]["2"].get<double>());
  EXPECT_DOUBLE_EQ(logs.at("top3_accuracy"), torch["top_k"]["3"].get<double>());
  EXPECT_LT(logs.at("accuracy"), logs.at("top3_accuracy")) << "the data must tell top-1 from top-3";
  for (int t = 0; t < 5; ++t) {
    double predicted = 0, present = 0;
    for (int p = 0; p < 5; ++p) {
      const double count = torch["confusion"][t][p].get<double>();
      EXPECT_EQ(logs.at("confusion_matrix/" + std::to_string(t) + "/" + std::to_string(p)), count) << t << "," << p;
      predicted += torch["confusion"][p][t].get<double>();
      present += count;
    }
    const double correct = torch["confusion"][t][t].get<double>();
    EXPECT_DOUBLE_EQ(logs.at("precision/" + std::to_string(t)), predicted > 0 ? correct / predicted : 0.0);
    EXPECT_DOUBLE_EQ(logs.at("recall/" + std::to_string(t)), present > 0 ? correct / present : 0.0);
  }
}

TEST(LossMetrics, ElementwiseLossesMatchPyTorch) {
  if (!tessera::testing::torch_available()) GTEST_SKIP() << "python3 with torch not available";
  Generator gen(4);
  const Tensor valid = tensor(kValid).to(DType::boolean);
  struct Case {
    std::string loss;
    Tensor output, target;
  };
  const Tensor logits = randn({16, 1}, gen) * 3.0;
  const std::vector<Case> cases = {
      {"binary_cross_entropy", logits, rand({16}, gen)},  // an (N) target for an (N, 1) output
      {"mse", randn({16, 3}, gen), randn({16, 3}, gen)},
      {"l1", randn({16, 3}, gen), randn({16, 3}, gen)},
      {"huber", randn({16, 3}, gen) * 2.0, randn({16, 3}, gen)}};
  json requests = json::array();
  std::vector<model::Logs> ours;
  for (const auto& c : cases) {
    const bool binary = c.loss == "binary_cross_entropy";
    const LossAndMetrics metrics({.loss = c.loss, .metrics = binary ? std::vector<std::string>{"accuracy"}
                                                                    : std::vector<std::string>{},
                                  .huber_delta = 0.8});
    ours.push_back(metrics.logs(sums_of(metrics, c.output, c.target, valid)));
    requests.push_back({{"op", "elementwise"}, {"loss", c.loss}, {"delta", 0.8}, {"valid", kValid},
                        {"output", tessera::testing::tensor_to_json(c.output)},
                        {"target", tessera::testing::tensor_to_json(binary ? c.target.reshape({16, 1}) : c.target)}});
  }
  const json torch = tessera::testing::run_torch_script("metrics.py", requests);
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].loss);
    EXPECT_NEAR(ours[i].at("loss"), torch[i]["loss"].get<double>(), 1e-6);
    if (torch[i].contains("accuracy")) EXPECT_DOUBLE_EQ(ours[i].at("accuracy"), torch[i]["accuracy"].get<double>());
  }
}

// Labels equal to ignore_index (-100, which io's label check lets through) add nothing to PyTorch's mean, and a
// class per position ((N, C, H, W) logits, (N, H, W) labels) makes each position one entry: the logged loss, accuracy,
// top-k and confusion matrix are over the real samples' labelled entries, with a validity mask (io's Loader always
// sends one) and without (TensorBatchSource), and the training loss is F.cross_entropy's mean. Before, the mask's
// loss divided by every real sample (ignored ones too), accuracy counted ignored labels as misses, the confusion
// matrix failed on index -100 * C, and per-position targets failed to broadcast or logged an accuracy above 1.
TEST(LossMetrics, IgnoredLabelsAndPerPositionTargetsMatchPyTorch) {
  if (!tessera::testing::torch_available()) GTEST_SKIP() << "python3 with torch not available";
  const LossAndMetrics metrics({.loss = "cross_entropy",
                                .metrics = {"accuracy", "top2_accuracy", "confusion_matrix"}});
  const std::vector<int64_t> valid = {1, 1, 0, 1, 1, 1};
  Generator gen(7);
  for (const Shape& logits_shape : {Shape{6, 4}, Shape{6, 4, 2, 3}}) {
    SCOPED_TRACE(shape_str(logits_shape));
    const Tensor logits = randn(logits_shape, gen);
    Shape labels_shape = logits_shape;
    labels_shape.erase(labels_shape.begin() + 1);
    Tensor labels = randint(0, 4, labels_shape, gen);
    std::vector<int64_t> flat = labels.to_vector<int64_t>();
    for (size_t i = 0; i < flat.size(); i += 3) flat[i] = model::kIgnoreIndex;  // a third of the entries ignored
    labels = tensor(flat).reshape(labels_shape);
    const json request = {{"op", "classify"}, {"logits", tessera::testing::tensor_to_json(logits)},
                          {"labels", tessera::testing::tensor_to_json(labels)}, {"valid", valid},
                          {"label_smoothing", 0.0}, {"top_k", {2}}};
    const json all_valid = {{"op", "classify"}, {"logits", request["logits"]}, {"labels", request["labels"]},
                            {"valid", std::vector<int64_t>(6, 1)}, {"label_smoothing", 0.0}, {"top_k", {2}}};
    const json torch = tessera::testing::run_torch_script("metrics.py", json::array({request, all_valid}));
    for (bool masked : {true, false}) {
      SCOPED_TRACE(masked ? "with a validity mask" : "without a mask");
      const json& want = torch[masked ? 0 : 1];
      Tensor sums;
      const Tensor mask = masked ? tensor(valid).to(DType::boolean).to(default_device()) : Tensor();
      const Tensor loss = metrics.compute(logits.to(default_device()), labels.to(default_device()), mask,
                                          /*evaluation=*/true, sums);
      const std::vector<double> values = sums.to_vector<double>();
      const model::Logs logs = metrics.logs(values);
      EXPECT_NEAR(loss.item<double>(), want["loss"].get<double>(), 1e-6) << "the loss trained on";
      EXPECT_EQ(values[1], want["count"].get<double>()) << "entries counted";
      EXPECT_NEAR(logs.at("loss"), want["loss"].get<double>(), 1e-6);
      EXPECT_DOUBLE_EQ(logs.at("accuracy"), want["accuracy"].get<double>());
      EXPECT_DOUBLE_EQ(logs.at("top2_accuracy"), want["top_k"]["2"].get<double>());
      for (int t = 0; t < 4; ++t)
        for (int p = 0; p < 4; ++p)
          EXPECT_EQ(logs.at("confusion_matrix/" + std::to_string(t) + "/" + std::to_string(p)),
                    want["confusion"][t][p].get<double>()) << t << "," << p;
    }
  }
}

TEST(LossMetrics, RefusesUnknownOrUnsuitableNames) {
  expect_error([] { LossAndMetrics({.loss = "hinge"}); }, {"unknown loss 'hinge'", "binary_cross_entropy"});
  expect_error([] { LossAndMetrics({.loss = "cross_entropy", .metrics = {"f1"}}); }, {"unknown metric 'f1'"});
  expect_error([] { LossAndMetrics({.loss = "mse", .metrics = {"accuracy"}}); }, {"accuracy", "mse"});
  expect_error([] { LossAndMetrics({.loss = "l1", .metrics = {"top5_accuracy"}}); }, {"top5_accuracy", "cross_entropy"});
  expect_error([] { LossAndMetrics({.loss = "mse", .label_smoothing = 0.1}); }, {"label_smoothing", "cross_entropy"});
}
