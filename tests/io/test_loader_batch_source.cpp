// LoaderBatchSource: the Loader as Model::fit's BatchSource. Its batches are the Loader's (x, y, validity mask),
// its state round-trips through JSON to the same next batch, wrong array names are named in the error, and
// Model::fit / evaluate run on it end to end (files written by h5py).
#include <gtest/gtest.h>

#include <cmath>

#include "core/model/model.h"
#include "tests/io/h5_files.h"
#include "tests/support/test_prelude.h"

namespace tessera::io {
namespace {

DatasetOptions images() {
  return {.files = testing::set_files("u8_images"),
          .arrays = {{.name = "x", .rank = 4, .scale = 1.0 / 255}, {.name = "y", .dtype = DType::i64}}};
}

TEST(LoaderBatchSource, ServesTheLoadersBatchesAndState) {
  const LoaderOptions options{.batch_size = 16, .seed = 3};
  LoaderBatchSource source(images(), options);
  Loader reference(images(), options);
  EXPECT_EQ(source.sample_shape(), (Shape{1, 6, 6}));
  EXPECT_EQ(source.batches_per_epoch(), 6);
  source.set_epoch(0);
  for (int i = 0; i < 2; ++i) {
    auto ours = source.next();
    auto theirs = reference.next();
    ASSERT_TRUE(ours && theirs);
    EXPECT_EQ(ours->x.to_vector<float>(), (*theirs)["x"].to_vector<float>());
    EXPECT_EQ(ours->y.to_vector<int64_t>(), (*theirs)["y"].to_vector<int64_t>());
    EXPECT_EQ(ours->valid.to_vector<bool>(), theirs->valid.to_vector<bool>());
  }
  const json state = source.state();
  EXPECT_EQ(state["epoch"], 0);
  EXPECT_EQ(state["position"], 2);
  EXPECT_EQ(state["seed"], 3);
  EXPECT_EQ(state["layout"]["batch_size"], 16);
  EXPECT_EQ(state["layout"]["files"].size(), images().files.size());
  LoaderBatchSource resumed(images(), {.batch_size = 16});
  resumed.load_state(state);
  EXPECT_EQ(resumed.epoch(), 0);
  EXPECT_EQ(resumed.position(), 2);
  EXPECT_EQ(resumed.next()->y.to_vector<int64_t>(), source.next()->y.to_vector<int64_t>());
  expect_error([&] { resumed.load_state(json{{"epoch", 1}}); }, "expected {epoch, position, seed}");
}

// Issue 14, item 8: inside an epoch, another batch size, another order or another set of files would re-train or
// skip samples silently; resuming there is an error that says what changed. At an epoch boundary anything may change.
TEST(LoaderBatchSource, MidEpochStateRefusesAnotherBatchSizeOrOtherFiles) {
  LoaderBatchSource source(images(), {.batch_size = 16, .seed = 3});
  source.set_epoch(0);
  source.next();
  const json mid_epoch = source.state();
  LoaderBatchSource smaller_batches(images(), {.batch_size = 8});
  expect_error([&] { smaller_batches.load_state(mid_epoch); },
               {"cannot resume inside epoch 1 (after batch 1): the batch size changed", "was 16, now 8"});
  DatasetOptions fewer = images();
  ASSERT_GT(fewer.files.size(), 1u);
  const std::string dropped = fewer.files.back();
  fewer.files.pop_back();
  LoaderBatchSource fewer_files(fewer, {.batch_size = 16});
  expect_error([&] { fewer_files.load_state(mid_epoch); }, {"the set of data files changed", dropped, "now absent"});
  // Another order: the rest of a shuffled epoch read unshuffled re-trains some samples and skips others.
  LoaderBatchSource unshuffled(images(), {.batch_size = 16, .shuffle = false});
  expect_error([&] { unshuffled.load_state(mid_epoch); },
               {"cannot resume inside epoch 1 (after batch 1): the shuffling (data.shuffle) changed",
                "shuffle was true, now false"});
  json boundary = mid_epoch;
  boundary["position"] = 0;
  unshuffled.load_state(boundary);
  EXPECT_EQ(unshuffled.position(), 0);
  smaller_batches.load_state(boundary);  // an epoch boundary: a new layout is fine
  EXPECT_EQ(smaller_batches.position(), 0);
}

TEST(LoaderBatchSource, NamesMissingArrays) {
  expect_error([] { LoaderBatchSource(images(), {}, {.x = "images", .y = "y"}); },
               {"reads arrays 'x', 'y'", "x = 'images'"});
}

TEST(LoaderBatchSource, ModelFitsAndEvaluatesOnIt) {
  manual_seed(0);
  model::Model net(json::parse(R"([{"type": "flatten"}, {"type": "linear", "out_features": 10}])"));
  net.compile({.optimizer = model::adamw({.lr = 1e-2}), .loss = "cross_entropy", .metrics = {"accuracy"}});
  LoaderBatchSource train(images(), {.batch_size = 16, .seed = 1});
  LoaderBatchSource test(images(), {.batch_size = 16, .shuffle = false, .evaluation = true});
  const auto history = net.fit(train, {.epochs = 2, .validation = &test});
  ASSERT_EQ(history.epochs.size(), 2u);
  EXPECT_TRUE(std::isfinite(history.epochs.back().at("loss")));
  const auto logs = net.evaluate(test);
  EXPECT_GE(logs.at("accuracy"), 0.0);
  EXPECT_LE(logs.at("accuracy"), 1.0);
}

// Model::predict's rows line up with the samples, as Keras's: a loader that shuffles cannot give that order, so it is
// an error naming the option (it returned a shuffled epoch's rows); an unshuffled one gives the stored order.
TEST(LoaderBatchSource, PredictIsInStoredOrderOrAnError) {
  manual_seed(0);
  model::Model net(json::parse(R"([{"type": "flatten"}])"));
  LoaderBatchSource shuffled(images(), {.batch_size = 16, .seed = 1});
  expect_error([&] { net.predict(shuffled); }, {"this loader shuffles them", "LoaderOptions::shuffle = false"});
  LoaderBatchSource in_order(images(), {.batch_size = 16, .shuffle = false, .evaluation = true});
  const Tensor predicted = net.predict(in_order);
  Loader reference(images(), {.batch_size = 1000, .shuffle = false, .evaluation = true});
  const auto all = reference.next();
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(predicted.to_vector<float>(), (*all)["x"].reshape({predicted.size(0), -1}).to_vector<float>());
}

}  // namespace
}  // namespace tessera::io
