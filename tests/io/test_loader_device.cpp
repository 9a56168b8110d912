// The Loader delivering batches on a device (LoaderOptions::device): with pin_memory, batches are assembled in
// pinned memory by the reader thread and copied on the loader's copy stream, one batch ahead, ordered for the
// caller by an event. Whatever the route, the batches (values, validity mask, order) and the loader's state equal
// those of a CPU loader with the same options, through epochs, restarts and a restored state. On the test device
// the copy stream runs as late as a GPU may, or compute does (tests/support/emulated_gpu_backend.h): a batch read
// before the caller waited for its copy, a pinned buffer refilled before its copy passed, or a batch overwritten by
// a later one before its step ran would show up here as wrong values.
#include <gtest/gtest.h>

#include <vector>

#include "io/loader.h"
#include "tests/io/h5_files.h"
#include "tests/support/cuda_on_cpu/cuda_on_cpu.h"
#include "tests/support/test_device.h"
#include "tests/support/test_prelude.h"

namespace tessera::io {
namespace {

DatasetOptions images() {
  return {.files = testing::set_files("u8_images"),
          .arrays = {{.name = "x", .rank = 4, .scale = 1.0 / 255}, {.name = "y", .dtype = DType::i64}}};
}

// Reads the batch on the device first (as a training step would), then checks it against the CPU's.
void expect_same_batch(const std::optional<Batch>& ours, const std::optional<Batch>& theirs, Device device) {
  ASSERT_EQ(ours.has_value(), theirs.has_value());
  if (!ours) return;
  EXPECT_EQ(ours->indices, theirs->indices);
  EXPECT_EQ(ours->valid_count, theirs->valid_count);
  EXPECT_EQ((*ours)["x"].device(), device);
  EXPECT_EQ(ours->valid.device(), device);
  const Tensor doubled = (*ours)["x"] * 2.0;  // compute-stream work on the delivered batch
  EXPECT_EQ(doubled.to_vector<float>(), ((*theirs)["x"] * 2.0).to_vector<float>());
  EXPECT_EQ((*ours)["y"].to_vector<int64_t>(), (*theirs)["y"].to_vector<int64_t>());
  EXPECT_EQ(ours->valid.to_vector<bool>(), theirs->valid.to_vector<bool>());
}

class LoaderDevice : public ::testing::TestWithParam<bool> {  // pin_memory
 protected:
  void SetUp() override {
    if (GetParam() && default_device().is_cpu()) GTEST_SKIP() << "pin_memory needs an accelerator device";
  }
  LoaderOptions on_device(LoaderOptions options) const {
    options.device = default_device();
    options.pin_memory = GetParam();
    return options;
  }
};

TEST_P(LoaderDevice, DeliversTheCpuLoadersBatchesOverEpochs) {
  const LoaderOptions options{.batch_size = 16, .prefetch = 3, .seed = 5};
  Loader ours(images(), on_device(options)), theirs(images(), options);
  for (int epoch = 0; epoch < 2; ++epoch) {
    for (int64_t b = 0; b <= ours.batches_per_epoch(); ++b) {  // the last call ends the epoch
      expect_same_batch(ours.next(), theirs.next(), default_device());
      EXPECT_EQ(ours.state().position, theirs.state().position);
      EXPECT_EQ(ours.state().epoch, theirs.state().epoch);
    }
  }
}

TEST_P(LoaderDevice, EvaluationPaddingReachesTheDeviceAsTheMask) {
  const LoaderOptions options{.batch_size = 64, .shuffle = false, .evaluation = true, .rank = 1, .world_size = 3};
  Loader ours(images(), on_device(options)), theirs(images(), options);
  while (true) {
    std::optional<Batch> a = ours.next(), b = theirs.next();
    expect_same_batch(a, b, default_device());
    if (!a) break;
  }
}

TEST_P(LoaderDevice, RestartsAndRestoredStatesDropTheBatchCopiedAhead) {
  const LoaderOptions options{.batch_size = 8, .seed = 2};
  Loader ours(images(), on_device(options)), theirs(images(), options);
  ours.next();
  ours.next();  // the third batch is being copied ahead now
  theirs.next();
  theirs.next();
  ours.set_epoch(1);
  theirs.set_epoch(1);
  expect_same_batch(ours.next(), theirs.next(), default_device());
  const LoaderState mid{.epoch = 2, .position = 3, .seed = 9};
  ours.load_state(mid);
  theirs.load_state(mid);
  for (int i = 0; i < 3; ++i) expect_same_batch(ours.next(), theirs.next(), default_device());
  EXPECT_EQ(ours.state().position, 6);
}

// A training loop reads no value between steps: each batch's compute work may still be queued when the loop drops
// the batch and the loader copies the next ones ahead into memory the pool hands out again. The copy stream must
// wait for the caller's stream first, or a late step reads a later batch's values (test_device_late_compute runs
// compute as late as a GPU may, so there the missing wait shows).
TEST_P(LoaderDevice, BatchesDroppedBeforeTheirStepsRanKeepTheirValuesForThem) {
  const LoaderOptions options{.batch_size = 16, .prefetch = 3, .seed = 7};
  Loader ours(images(), on_device(options)), theirs(images(), options);
  std::vector<Tensor> sums;
  std::vector<float> expected;
  while (std::optional<Batch> batch = ours.next()) {
    sums.push_back(((*batch)["x"] * 3.0).sum());  // queued, not read
    expected.push_back((theirs.next().value()["x"] * 3.0).sum().item<float>());
  }
  ASSERT_EQ(sums.size(), static_cast<size_t>(ours.batches_per_epoch()));
  for (size_t i = 0; i < sums.size(); ++i) EXPECT_EQ(sums[i].item<float>(), expected[i]) << "batch " << i;
}

// Warm pinned batches cost the host no cudaEventCreate: the loader reuses its events, and the pinned cache reuses
// the events that mark when its buffers' copies have passed (they were 5 a batch). Counted on the CPU build of the
// CUDA runtime. Events are still made while more batches are in flight than ever before (the reader thread runs
// ahead by however much the schedule lets it, up to `prefetch`), so the check is fewer than one a batch.
TEST_P(LoaderDevice, WarmPinnedBatchesCreateNoCudaEvents) {
  if (!GetParam() || !default_device().is_test() || tessera::testing::test_device_runs_cpu_kernels())
    GTEST_SKIP() << "counts the events of the CPU build's CUDA runtime";
  Loader ours(images(), on_device({.batch_size = 4, .prefetch = 2, .seed = 3}));
  auto run_batches = [&](uint64_t n) {
    for (uint64_t b = 0; b < n; ++b) {
      std::optional<Batch> batch = ours.next();
      if (!batch) batch = ours.next();  // the epoch ended: the next one starts
      EXPECT_GE((*batch)["x"].sum().item<float>(), 0.0f);  // the step reads a value: its work has run
    }
  };
  run_batches(3);
  const uint64_t before = tessera::testing::cuda_on_cpu_work_counts().events_created;
  constexpr uint64_t kBatches = 24;
  run_batches(kBatches);
  EXPECT_LT(tessera::testing::cuda_on_cpu_work_counts().events_created - before, kBatches);
}

INSTANTIATE_TEST_SUITE_P(LoaderDevice, LoaderDevice, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Pinned" : "Pageable"; });

}  // namespace
}  // namespace tessera::io
