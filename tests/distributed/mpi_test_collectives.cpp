// Every collective x dtype x size (0, 1, odd, several MiB) through the mpi backend, under real mpirun: each rank
// checks its result against values it computes itself for every rank (collective_values.h), never against another
// rank's output.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "distributed/bootstrap.h"
#include "tests/distributed/collective_values.h"

namespace tessera {
namespace {

using testing::as_tensor;
using testing::collective_values;
using testing::expected_reduction;

const dist::ReduceOp kOps[] = {dist::ReduceOp::sum, dist::ReduceOp::avg, dist::ReduceOp::max, dist::ReduceOp::min};
// 0, 1, odd, odd and past the eager/rendezvous switch, several MiB (6 MiB of f32, 12 MiB of f64).
const int64_t kSizes[] = {0, 1, 7, 1023, 65537, 1572865};

class CollectiveTest : public ::testing::TestWithParam<DType> {
 protected:
  dist::Communicator& comm() { return *testing::device_communicator(); }
  std::string where(const char* what, int64_t n, const std::string& detail = "") const {
    return std::string(what) + " " + dtype_name(GetParam()) + " n=" + std::to_string(n) + " " + detail;
  }
};
// One ctest entry per collective (each suite instantiated for every dtype below).
class Allreduce : public CollectiveTest {};
class Broadcast : public CollectiveTest {};
class Allgather : public CollectiveTest {};
class ReduceScatter : public CollectiveTest {};

TEST_P(Allreduce, EveryOpEverySize) {
  const DType dtype = GetParam();
  int salt = 0;
  for (const int64_t n : kSizes) {
    for (const dist::ReduceOp op : kOps) {
      ++salt;
      Tensor t = as_tensor(collective_values(n, comm().rank(), salt, dtype), dtype);
      comm().allreduce(t, op, {.what = "test"})->wait();
      EXPECT_EQ(t.to_vector<double>(), expected_reduction(n, comm().size(), salt, dtype, op))
          << where("allreduce", n, dist::to_string(op));
    }
  }
}

TEST_P(Broadcast, FromEveryRootEverySize) {
  const DType dtype = GetParam();
  for (const int64_t n : kSizes) {
    for (int root = 0; root < comm().size(); ++root) {
      const int salt = static_cast<int>(n % 13) + root;
      Tensor t = as_tensor(collective_values(n, comm().rank(), salt, dtype), dtype);
      comm().broadcast(t, root)->wait();
      EXPECT_EQ(t.to_vector<double>(), as_tensor(collective_values(n, root, salt, dtype), dtype).to_vector<double>())
          << where("broadcast", n, "root " + std::to_string(root));
    }
  }
}

TEST_P(Allgather, EverySize) {
  const DType dtype = GetParam();
  for (const int64_t n : kSizes) {
    Tensor input = as_tensor(collective_values(n, comm().rank(), 3, dtype), dtype);
    Tensor output = zeros({n * comm().size()}, {.dtype = dtype});
    comm().allgather(input, output)->wait();
    std::vector<double> expected;
    for (int r = 0; r < comm().size(); ++r) {
      const auto part = as_tensor(collective_values(n, r, 3, dtype), dtype).to_vector<double>();
      expected.insert(expected.end(), part.begin(), part.end());
    }
    EXPECT_EQ(output.to_vector<double>(), expected) << where("allgather", n);
  }
}

TEST_P(ReduceScatter, EveryOpEverySize) {
  const DType dtype = GetParam();
  const int size = comm().size();
  int salt = 0;
  for (const int64_t n : kSizes) {
    if (n > 65537) continue;  // input is size() x n: keep 4 oversubscribed ranks quick
    for (const dist::ReduceOp op : kOps) {
      ++salt;
      Tensor input = as_tensor(collective_values(n * size, comm().rank(), salt, dtype), dtype);
      Tensor output = zeros({n}, {.dtype = dtype});
      comm().reduce_scatter(input, output, op)->wait();
      EXPECT_EQ(output.to_vector<double>(), expected_reduction(n, size, salt, dtype, op, comm().rank() * n))
          << where("reduce_scatter", n, dist::to_string(op));
    }
  }
}

const auto kDtypes = ::testing::Values(DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64);
const auto kDtypeName = [](const auto& info) { return std::string(dtype_name(info.param)); };
// The prefix repeats the suite name so that ctest's filter `<Suite>/*` selects the instantiation.
INSTANTIATE_TEST_SUITE_P(Allreduce, Allreduce, kDtypes, kDtypeName);
INSTANTIATE_TEST_SUITE_P(Broadcast, Broadcast, kDtypes, kDtypeName);
INSTANTIATE_TEST_SUITE_P(Allgather, Allgather, kDtypes, kDtypeName);
INSTANTIATE_TEST_SUITE_P(ReduceScatter, ReduceScatter, kDtypes, kDtypeName);

}  // namespace
}  // namespace tessera
