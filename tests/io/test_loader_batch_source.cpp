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
  EXPECT_EQ(state, (json{{"epoch", 0}, {"position", 2}, {"seed", 3}}));
  LoaderBatchSource resumed(images(), {.batch_size = 16});
  resumed.load_state(state);
  EXPECT_EQ(resumed.epoch(), 0);
  EXPECT_EQ(resumed.position(), 2);
  EXPECT_EQ(resumed.next()->y.to_vector<int64_t>(), source.next()->y.to_vector<int64_t>());
  expect_error([&] { resumed.load_state(json{{"epoch", 1}}); }, "expected {epoch, position, seed}");
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

}  // namespace
}  // namespace tessera::io
