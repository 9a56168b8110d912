#pragma once
// Shared by test_conv_pool.cpp and test_norm.cpp: run op cases forward + backward here, send them all to one
// PyTorch reference script in a single call, and compare outputs and input gradients.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/core.h"
#include "tests/support/gradcheck.h"
#include "tests/support/torch_ref.h"

namespace tessera::testing {

struct ReferenceCase {
  std::string op;                  // handler name in the script
  std::vector<Tensor> inputs;      // undefined: an absent optional input (sent as null)
  std::vector<bool> requires_grad;  // per input
  nlohmann::json options;          // keyword arguments for the script's handler
  std::function<Tensor(const std::vector<Tensor>&)> fn;  // the Tessera op under test
};

// Uniform [-1, 1) values of `shape` in `dtype`.
inline Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed) {
  Generator gen(seed);
  Tensor t = empty(shape, {.dtype = DType::f64});
  uniform_(t, -1.0, 1.0, gen);
  return t.to(dtype);
}

// Runs every case, compares with PyTorch, and returns the script's answers (for op-specific extra checks).
inline nlohmann::json expect_matches_torch(const std::string& script, const std::vector<ReferenceCase>& cases) {
  nlohmann::json request = nlohmann::json::array();
  std::vector<Tensor> outputs;
  std::vector<std::vector<Tensor>> grads;
  for (size_t c = 0; c < cases.size(); ++c) {
    const ReferenceCase& rc = cases[c];
    std::vector<Tensor> leaves;
    nlohmann::json inputs = nlohmann::json::array();
    for (size_t i = 0; i < rc.inputs.size(); ++i) {
      Tensor leaf = rc.inputs[i].defined() ? rc.inputs[i].detach() : Tensor();
      if (leaf.defined() && rc.requires_grad[i]) leaf.requires_grad_(true);
      leaves.push_back(leaf);
      inputs.push_back(leaf.defined() ? tensor_to_json(leaf) : nlohmann::json());
    }
    Tensor out = rc.fn(leaves);
    const Tensor grad_output = random_tensor(out.shape(), out.dtype(), 1000 + c);
    out.backward(grad_output);
    outputs.push_back(out);
    std::vector<Tensor> g;
    for (const Tensor& leaf : leaves) g.push_back(leaf.defined() && leaf.requires_grad() ? leaf.grad() : Tensor());
    grads.push_back(g);
    request.push_back({{"op", rc.op}, {"inputs", inputs}, {"requires_grad", rc.requires_grad},
                       {"options", rc.options}, {"grad_output", tensor_to_json(grad_output)}});
  }
  const nlohmann::json answers = run_torch_script(script, request);
  for (size_t c = 0; c < cases.size(); ++c) {
    SCOPED_TRACE("case " + std::to_string(c) + ": " + cases[c].op + " " + cases[c].options.dump() + " " +
                 dtype_name(outputs[c].dtype()));
    const bool f64 = outputs[c].dtype() == DType::f64;
    const double atol = f64 ? 1e-10 : 2e-4, rtol = f64 ? 1e-9 : 1e-4;
    expect_close(outputs[c], tensor_from_json(answers[c]["output"]), atol, rtol);
    for (size_t i = 0; i < grads[c].size(); ++i) {
      SCOPED_TRACE("gradient of input " + std::to_string(i));
      const nlohmann::json& expected = answers[c]["grads"][i];
      EXPECT_EQ(grads[c][i].defined(), !expected.is_null());
      if (!expected.is_null() && grads[c][i].defined()) expect_close(grads[c][i], tensor_from_json(expected), atol, rtol);
    }
  }
  return answers;
}

}  // namespace tessera::testing
