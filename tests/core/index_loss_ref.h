#pragma once
// Shared by test_index.cpp and test_loss.cpp: named ops with parameters (handlers in tests/torch_ref/index_loss.py)
// run through Tessera and PyTorch by the engine of tests/support/torch_expr.h (one python call, outputs and input
// gradients for a fixed random output gradient), with tolerances by output dtype. Also: the serial == parallel
// check of both files.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>

#include "core/core.h"
#include "kernels/cpu/parallel.h"
#include "tests/support/test_prelude.h"

namespace tessera::testing {

struct RefCase {
  std::string name;            // for failure messages
  std::string op;              // handler in index_loss.py
  std::vector<Tensor> inputs;  // floating inputs that require grad get their gradients compared
  nlohmann::json params;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
};

// A leaf of `dtype` with random values in [low, high); strided (not contiguous) when `noncontiguous`.
inline Tensor ref_leaf(const Shape& shape, DType dtype, uint64_t seed, bool noncontiguous = false, double low = -2.0,
                       double high = 2.0) {
  Tensor base = (noncontiguous ? noncontiguous_leaf(shape, seed, low, high) : random_leaf(shape, seed, low, high))
                    .detach();
  if (dtype == DType::f64) return base.requires_grad_(true);
  // Convert, then restore the layout for non-contiguous leaves.
  if (!noncontiguous || shape.empty()) return base.to(dtype).requires_grad_(true);
  if (shape.size() < 2) {  // every other element of a buffer twice as long
    Tensor buffer = zeros({2 * shape[0]}, {.dtype = dtype});
    Tensor view = buffer.slice(0, 0, 2 * shape[0], 2);
    copy_into(view, base);
    return view.detach().requires_grad_(true);
  }
  Tensor stored = base.transpose(-1, -2).contiguous().to(dtype);
  return stored.transpose(-1, -2).detach().requires_grad_(true);
}

// An i64 index tensor.
inline Tensor idx(const std::vector<int64_t>& values, const Shape& shape = {}) {
  return tensor<int64_t>(values, shape);
}

inline void expect_matches_torch(const std::vector<RefCase>& cases) {
  std::vector<TorchRefCase> refs;
  for (const RefCase& c : cases)
    refs.push_back({c.name, {{"op", c.op}, {"params", c.params.is_null() ? nlohmann::json::object() : c.params}},
                    c.fn, c.inputs});
  expect_matches_torch_script("index_loss.py", refs, [](const Tensor& output, const std::vector<Tensor>&) {
    const DType dtype = output.dtype();
    if (dtype == DType::f64) return Tolerance{1e-10, 1e-8};
    if (dtype == DType::f32) return Tolerance{2e-6, 1e-5};
    return Tolerance{2e-2, 2e-2};
  });
}

// Runs `run` on one thread and then on at least two: every tensor it returns must be bitwise the same.
inline void expect_parallel_matches_serial(const std::function<std::vector<Tensor>()>& run) {
  const int threads = kernels::cpu::num_threads();
  kernels::cpu::set_num_threads(1);
  const std::vector<Tensor> serial = run();
  kernels::cpu::set_num_threads(std::max(threads, 2));
  const std::vector<Tensor> parallel = run();
  kernels::cpu::set_num_threads(threads);
  for (size_t i = 0; i < serial.size(); ++i) expect_close(parallel[i], serial[i], 0.0, 0.0);
}

}  // namespace tessera::testing

namespace tessera {
using testing::idx;
using testing::ref_leaf;
using testing::RefCase;
}  // namespace tessera
