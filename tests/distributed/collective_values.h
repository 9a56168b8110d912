#pragma once
// Test values for collectives that every rank can compute for every other rank, so expected results are computed
// locally and independently of the communicator. Values are small multiples of 1/4 in [-5, 5.75]: sums over up to
// 16 ranks are exact in every dtype (bf16 included), so results compare exactly, whatever order MPI adds in.
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/core.h"
#include "distributed/communicator.h"
#include "tests/support/nccl_on_cpu/nccl_on_cpu.h"

namespace tessera::testing {

// The value rank `rank` contributes at element `i` of a collective numbered `salt`.
inline double collective_value(int64_t i, int rank, int salt, DType dtype) {
  const double whole = static_cast<double>((i * 7 + rank * 3 + salt * 5) % 11) - 5.0;
  return is_floating(dtype) ? whole + 0.25 * static_cast<double>((i + rank + salt) % 4) : whole;
}

inline std::vector<double> collective_values(int64_t n, int rank, int salt, DType dtype, int64_t first = 0) {
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = collective_value(first + i, rank, salt, dtype);
  return values;
}

inline Tensor as_tensor(const std::vector<double>& values, DType dtype) {
  return tensor(values, {static_cast<int64_t>(values.size())}, TensorOptions{.dtype = dtype});
}

// The reduction over ranks 0..size-1 of their values at elements first..first+n-1, as the dtype holds it.
inline std::vector<double> expected_reduction(int64_t n, int size, int salt, DType dtype, dist::ReduceOp op,
                                              int64_t first = 0) {
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i) {
    double acc = collective_value(first + i, 0, salt, dtype);
    for (int r = 1; r < size; ++r) {
      const double v = collective_value(first + i, r, salt, dtype);
      acc = op == dist::ReduceOp::max ? std::max(acc, v) : op == dist::ReduceOp::min ? std::min(acc, v) : acc + v;
    }
    if (op == dist::ReduceOp::avg) acc = is_floating(dtype) ? acc / size : std::trunc(acc / size);
    out[i] = acc;
  }
  return as_tensor(out, dtype).to_vector<double>();  // rounded as the dtype stores it
}

// One communicator per test process, shared by the tests (created on first use, after MPI start-up).
inline std::shared_ptr<dist::Communicator> test_communicator() {
  static std::shared_ptr<dist::Communicator> comm = dist::make_communicator({.backend = "mpi"});
  return comm;
}

// The communicator `auto` gives for the device under test: on a GPU with one rank per GPU, NCCL (host tensors over
// MPI beside it); elsewhere MPI, staging device tensors through pinned host memory; in the *.nccl_on_cpu entries,
// the nccl backend over the CPU build of the CUDA backend (communicator_under_test).
inline std::shared_ptr<dist::Communicator> device_communicator() {
  static std::shared_ptr<dist::Communicator> comm = communicator_under_test(default_device());
  return comm;
}

}  // namespace tessera::testing
