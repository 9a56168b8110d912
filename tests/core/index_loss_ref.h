#pragma once
// Shared by test_index.cpp and test_loss.cpp: runs a batch of op cases through Tessera and through PyTorch
// (tests/torch_ref/index_loss.py) in one python call, and compares outputs and input gradients. Each case's
// output gradient is a fixed random tensor, sent to PyTorch too, so gradients are compared for a non-trivial
// upstream gradient. Also: the serial == parallel check of both files.
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

inline void tolerance_for(DType dtype, double& atol, double& rtol) {
  if (dtype == DType::f64) atol = 1e-10, rtol = 1e-8;
  else if (dtype == DType::f32) atol = 2e-6, rtol = 1e-5;
  else atol = 2e-2, rtol = 2e-2;
}

inline void expect_matches_torch(const std::vector<RefCase>& cases) {
  if (!torch_available()) GTEST_SKIP() << "python3 with torch is not available";
  nlohmann::json batch = nlohmann::json::array();
  std::vector<Tensor> outputs;
  for (size_t i = 0; i < cases.size(); ++i) {
    const RefCase& c = cases[i];
    for (const Tensor& t : c.inputs) if (t.requires_grad()) t.set_grad(Tensor());
    Tensor out = c.fn(c.inputs);
    Tensor grad_output = zeros(out.shape(), {.dtype = DType::i64});
    if (out.is_floating_point()) {
      grad_output = random_leaf(out.shape(), 1000 + i).detach().to(out.dtype());
      if (out.requires_grad()) out.backward(grad_output);
    }
    outputs.push_back(out.detach());
    nlohmann::json j;
    j["op"] = c.op;
    j["params"] = c.params.is_null() ? nlohmann::json::object() : c.params;
    j["inputs"] = nlohmann::json::array();
    j["requires_grad"] = nlohmann::json::array();
    for (const Tensor& t : c.inputs) {
      j["inputs"].push_back(tensor_to_json(t));
      j["requires_grad"].push_back(t.requires_grad());
    }
    j["grad_output"] = tensor_to_json(grad_output);
    batch.push_back(j);
  }
  const nlohmann::json answers = run_torch_script("index_loss.py", batch);
  ASSERT_EQ(answers.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const RefCase& c = cases[i];
    SCOPED_TRACE(c.name);
    double atol, rtol;
    tolerance_for(outputs[i].dtype(), atol, rtol);
    const Tensor expected = tensor_from_json(answers[i]["output"]);
    EXPECT_EQ(outputs[i].dtype(), expected.dtype());
    expect_close(outputs[i], expected, atol, rtol);
    for (size_t k = 0; k < c.inputs.size(); ++k) {
      if (!c.inputs[k].requires_grad()) continue;
      SCOPED_TRACE("gradient of input " + std::to_string(k));
      const nlohmann::json& g = answers[i]["grads"][k];
      ASSERT_FALSE(g.is_null());
      ASSERT_TRUE(c.inputs[k].grad().defined());
      expect_close(c.inputs[k].grad(), tensor_from_json(g), atol, rtol);
    }
  }
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
