// The Loader under real mpirun (-n 2 and -n 3): each rank reads its own share with its own reader thread and HDF5
// handles; gathered over MPI, the shares of an epoch hold every sample exactly once (shuffled training epochs of
// 120 samples, which 2 and 3 ranks divide, and evaluation epochs of 81 samples with padding masked), and every
// value a rank reads equals numpy's. Every rank writes its own copy of the h5py files (no shared state to race on).
#include <gtest/gtest.h>
#include <mpi.h>

#include <map>

#include "distributed/bootstrap.h"
#include "tests/io/h5_files.h"

namespace tessera::io {
namespace {

using testing::h5_files;
using testing::set_files;

// Every rank's list, concatenated in rank order, on every rank.
std::vector<int64_t> all_gather(const std::vector<int64_t>& mine) {
  const int size = dist::world().size;
  int count = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<size_t>(size)), displacements(static_cast<size_t>(size), 0);
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  for (int r = 1; r < size; ++r) displacements[r] = displacements[r - 1] + counts[r - 1];
  std::vector<int64_t> all(static_cast<size_t>(displacements.back() + counts.back()));
  MPI_Allgatherv(mine.data(), count, MPI_INT64_T, all.data(), counts.data(), displacements.data(), MPI_INT64_T,
                 MPI_COMM_WORLD);
  return all;
}

TEST(LoaderRanks, ShuffledEpochsSeeEverySampleOnce) {
  const auto& world = dist::world();
  Loader loader(DatasetOptions{.files = set_files("f64_chunked")},
                {.batch_size = 7, .seed = 11, .rank = world.rank, .world_size = world.size});
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> mine;
    while (auto batch = loader.next()) {
      testing::expect_batch_matches(*batch, h5_files()["sets"]["f64_chunked"], "x", 1e-6);
      mine.insert(mine.end(), batch->indices.begin(), batch->indices.end());
    }
    EXPECT_EQ(static_cast<int64_t>(mine.size()), 120 / world.size);
    std::map<int64_t, int> seen;
    for (int64_t i : all_gather(mine)) ++seen[i];
    EXPECT_EQ(seen.size(), 120u) << "epoch " << epoch;
    for (const auto& [index, count] : seen) EXPECT_EQ(count, 1) << "sample " << index << " in epoch " << epoch;
  }
}

TEST(LoaderRanks, EvaluationSeesEverySampleOnce) {
  const auto& world = dist::world();
  Loader loader(DatasetOptions{.files = set_files("u8_images")},
                {.batch_size = 8, .shuffle = false, .evaluation = true, .rank = world.rank, .world_size = world.size});
  std::vector<int64_t> mine;
  while (auto batch = loader.next()) {
    testing::expect_batch_matches(*batch, h5_files()["sets"]["u8_images"]);
    const auto valid = batch->valid.to_vector<bool>();
    for (size_t i = 0; i < valid.size(); ++i)
      if (valid[i]) mine.push_back(batch->indices[i]);
  }
  std::map<int64_t, int> seen;
  for (int64_t i : all_gather(mine)) ++seen[i];
  EXPECT_EQ(seen.size(), 81u);
  for (const auto& [index, count] : seen) EXPECT_EQ(count, 1) << "sample " << index;
}

}  // namespace
}  // namespace tessera::io
