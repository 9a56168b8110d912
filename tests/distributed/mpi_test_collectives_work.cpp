// Work semantics of the mpi backend under real mpirun: many collectives in flight at once, waited in any order;
// FIFO completion; barrier ordering; bad arguments throw on the calling thread (naming the collective) without
// issuing anything, so no rank is left waiting.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <fstream>
#include <string>
#include <vector>

#include "distributed/bootstrap.h"
#include "tests/distributed/collective_values.h"
#include "tests/support/expect_error.h"

namespace tessera {
namespace {

using testing::as_tensor;
using testing::collective_values;
using testing::expected_reduction;

dist::Communicator& comm() { return *testing::test_communicator(); }

TEST(CollectiveWork, ManyInFlightWaitedInReverseOrder) {
  const int kCount = 12;
  const DType dtypes[] = {DType::f32, DType::bf16, DType::i64, DType::f64};
  std::vector<Tensor> tensors;
  std::vector<dist::WorkPtr> works;
  for (int k = 0; k < kCount; ++k) {
    const DType dtype = dtypes[k % 4];
    tensors.push_back(as_tensor(collective_values(1000 + 37 * k, comm().rank(), k, dtype), dtype));
    works.push_back(comm().allreduce(tensors.back(), dist::ReduceOp::sum, {.what = "tensor " + std::to_string(k)}));
  }
  // A broadcast and an allgather queued behind them.
  Tensor bcast = as_tensor(collective_values(999, comm().rank(), 50, DType::f32), DType::f32);
  works.push_back(comm().broadcast(bcast, comm().size() - 1));
  Tensor gathered = zeros({5 * comm().size()}, {.dtype = DType::i32});
  works.push_back(comm().allgather(as_tensor(collective_values(5, comm().rank(), 51, DType::i32), DType::i32),
                                   gathered));

  for (auto it = works.rbegin(); it != works.rend(); ++it) (*it)->wait();
  for (const auto& work : works) EXPECT_TRUE(work->is_completed());
  for (int k = 0; k < kCount; ++k) {
    const DType dtype = dtypes[k % 4];
    EXPECT_EQ(tensors[k].to_vector<double>(),
              expected_reduction(1000 + 37 * k, comm().size(), k, dtype, dist::ReduceOp::sum))
        << "tensor " << k;
  }
  EXPECT_EQ(bcast.to_vector<double>(),
            as_tensor(collective_values(999, comm().size() - 1, 50, DType::f32), DType::f32).to_vector<double>());
  std::vector<double> expected_gather;
  for (int r = 0; r < comm().size(); ++r) {
    const auto part = collective_values(5, r, 51, DType::i32);
    expected_gather.insert(expected_gather.end(), part.begin(), part.end());
  }
  EXPECT_EQ(gathered.to_vector<double>(), expected_gather);
}

TEST(CollectiveWork, CompletesInIssueOrder) {
  std::vector<Tensor> tensors;
  std::vector<dist::WorkPtr> works;
  for (int k = 0; k < 8; ++k) {
    tensors.push_back(full({4096}, k + comm().rank()));
    works.push_back(comm().allreduce(tensors.back()));
  }
  works.back()->wait();
  for (int k = 0; k < 8; ++k) {
    EXPECT_TRUE(works[k]->is_completed()) << "an earlier collective must be done when a later one is";
    works[k]->wait();  // wait() after completion returns at once, any number of times
    works[k]->wait();
  }
}

TEST(CollectiveWork, WaitIsCallableFromAnotherThread) {
  Tensor t = full({333}, 1.0);
  dist::WorkPtr work = comm().allreduce(t);
  std::thread waiter([&] { work->wait(); });
  waiter.join();
  EXPECT_TRUE(work->is_completed());
  EXPECT_EQ(t.to_vector<double>(), std::vector<double>(333, comm().size()));
}

// Each rank leaves a file, then passes the barrier; after it every rank sees every file.
TEST(CollectiveWork, BarrierOrdersSideEffects) {
  int64_t id = comm().rank() == 0 ? static_cast<int64_t>(getpid()) : 0;
  Tensor id_tensor = full({1}, static_cast<double>(id), {.dtype = DType::i64});
  comm().broadcast(id_tensor, 0)->wait();
  const auto dir = std::filesystem::temp_directory_path() /
                   ("tessera_barrier_" + std::to_string(id_tensor.item<int64_t>()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / std::to_string(comm().rank())) << "here";
  comm().barrier({.what = "files written"})->wait();
  for (int r = 0; r < comm().size(); ++r) EXPECT_TRUE(std::filesystem::exists(dir / std::to_string(r))) << r;
  comm().barrier()->wait();
  if (comm().rank() == 0) std::filesystem::remove_all(dir);
}

TEST(CollectiveWork, BadArgumentsThrowOnTheCallingThread) {
  using testing::expect_error;
  expect_error([] { comm().allreduce(full({2, 3}, 1.0).t()); }, {"allreduce", "contiguous"});
  expect_error([] { comm().allreduce(full({3}, 1.0, {.dtype = DType::u8})); }, {"allreduce", "u8"});
  expect_error([] { comm().allreduce(Tensor()); }, {"allreduce", "undefined"});
  expect_error([] { comm().broadcast(full({3}, 1.0), comm().size()); }, {"broadcast", "root"});
  // Sizes wrong on any world size (one rank too: the .np1.cuda entry), in the words of both backends.
  expect_error([] { comm().allgather(full({3}, 1.0), full({3 * comm().size() + 1}, 1.0)); },
               {"allgather", "expected size() x input"});
  expect_error([] { comm().allgather(full({3}, 1.0), full({3 * comm().size()}, 1.0, {.dtype = DType::f64})); },
               {"allgather", "f64", "f32"});
  expect_error([] { comm().reduce_scatter(full({3 * comm().size() + 1}, 1.0), full({3}, 1.0)); },
               {"reduce_scatter", "expected size() x output"});
  // Nothing was issued: the next collective still matches across ranks.
  Tensor t = full({3}, 2.0);
  comm().allreduce(t, dist::ReduceOp::max)->wait();
  EXPECT_EQ(t.to_vector<double>(), std::vector<double>(3, 2.0));
}

// The raw-buffer forms (what the nccl backend's device memory goes through) on host memory.
TEST(CollectiveWork, RawBuffers) {
  const int rank = comm().rank(), size = comm().size();
  const int64_t n = 1001;
  std::vector<double> data = collective_values(n, rank, 7, DType::f64);
  comm().allreduce_raw({data.data(), n, DType::f64}, dist::ReduceOp::min)->wait();
  EXPECT_EQ(data, expected_reduction(n, size, 7, DType::f64, dist::ReduceOp::min));

  std::vector<int32_t> root_data(n, rank + 100);
  comm().broadcast_raw({root_data.data(), n, DType::i32}, size - 1)->wait();
  EXPECT_EQ(root_data, std::vector<int32_t>(n, size - 1 + 100));

  std::vector<int64_t> mine(3, rank), all(3 * size, -1), expected_all;
  comm().allgather_raw({mine.data(), 3, DType::i64}, {all.data(), 3 * size, DType::i64})->wait();
  for (int r = 0; r < size; ++r) expected_all.insert(expected_all.end(), 3, r);
  EXPECT_EQ(all, expected_all);

  std::vector<float> chunks(2 * size, 1.0f + rank), out(2, 0.0f);
  comm().reduce_scatter_raw({chunks.data(), 2 * size, DType::f32}, {out.data(), 2, DType::f32})->wait();
  EXPECT_EQ(out, std::vector<float>(2, static_cast<float>(size * (size + 1) / 2)));

  testing::expect_error([] { comm().allreduce_raw({nullptr, 5, DType::f32}); }, {"allreduce", "not a valid buffer"});
}

TEST(CollectiveWork, FactoryPicksBackends) {
  EXPECT_EQ(dist::make_communicator({.backend = "mpi"})->backend(), "mpi");
  // auto is mpi until the core has CUDA tensors (CommunicatorOptions::backend).
  EXPECT_EQ(dist::make_communicator({.backend = "auto"})->backend(), "mpi");
  testing::expect_error([] { dist::make_communicator({.backend = "gloo"}); }, {"gloo", "mpi", "nccl"});
}

}  // namespace
}  // namespace tessera
