// See torch_expr.h.
#include "tests/support/torch_expr.h"

#include <algorithm>

#include "tests/support/gradcheck.h"
#include "tests/support/torch_ref.h"

namespace tessera::testing {

Tensor uniform_tensor(const Shape& shape, DType dtype, uint64_t seed, double low, double high) {
  Generator gen(seed);
  Tensor t = empty(shape, {.dtype = DType::f64});
  uniform_(t, low, high, gen);
  return t.to(dtype);
}

Tensor transposed_tensor(const Shape& shape, DType dtype, uint64_t seed, double low, double high) {
  Shape swapped = shape;
  std::swap(swapped[swapped.size() - 1], swapped[swapped.size() - 2]);
  return uniform_tensor(swapped, dtype, seed, low, high).transpose(-1, -2);
}

double torch_tolerance(DType dtype) {
  switch (dtype) {
    case DType::f64: return 1e-12;
    case DType::f32: return 1e-5;
    case DType::bf16: return 1e-2;
    case DType::f16: return 2e-3;
    default: return 0.0;
  }
}

void expect_matches_torch_script(const std::string& script, const std::vector<TorchRefCase>& cases,
                                 const ToleranceFn& tolerance, nlohmann::json* answers_out) {
  if (!torch_available()) GTEST_SKIP() << "python3-torch is not installed";
  nlohmann::json request = nlohmann::json::array();
  std::vector<Tensor> outputs;
  for (size_t c = 0; c < cases.size(); ++c) {
    nlohmann::json j = cases[c].request;
    j["inputs"] = nlohmann::json::array();
    j["requires_grad"] = nlohmann::json::array();
    for (const Tensor& leaf : cases[c].leaves) {
      const bool requires_grad = leaf.defined() && leaf.requires_grad();
      if (requires_grad) leaf.set_grad(Tensor());
      j["inputs"].push_back(leaf.defined() ? tensor_to_json(leaf) : nlohmann::json());
      j["requires_grad"].push_back(requires_grad);
    }
    Tensor out = cases[c].fn(cases[c].leaves);
    if (out.is_floating_point()) {
      const Tensor grad_output = uniform_tensor(out.shape(), out.dtype(), 1000 + c);
      if (out.requires_grad()) out.backward(grad_output);
      j["grad_output"] = tensor_to_json(grad_output);
    }
    outputs.push_back(out.detach());
    request.push_back(j);
  }
  const nlohmann::json answers = run_torch_script(script, request);
  if (answers_out != nullptr) *answers_out = answers;
  ASSERT_EQ(answers.size(), cases.size());
  for (size_t c = 0; c < cases.size(); ++c) {
    SCOPED_TRACE(cases[c].name);
    const nlohmann::json& expected = answers[c]["output"];
    EXPECT_EQ(dtype_name(outputs[c].dtype()), expected["dtype"].get<std::string>());
    const Tolerance tol = tolerance(outputs[c], cases[c].leaves);
    expect_close(outputs[c], tensor_from_json(expected), tol.atol, tol.rtol);
    for (size_t i = 0; i < cases[c].leaves.size(); ++i) {
      SCOPED_TRACE("gradient of input " + std::to_string(i));
      const nlohmann::json& grad = answers[c]["grads"][i];
      const Tensor& leaf = cases[c].leaves[i];
      ASSERT_EQ(leaf.defined() && leaf.grad().defined(), !grad.is_null());
      if (!grad.is_null()) expect_close(leaf.grad(), tensor_from_json(grad), tol.atol, tol.rtol);
    }
  }
}

Tolerance accumulation_tolerance(const Tensor& output, const std::vector<Tensor>&) {
  return output.dtype() == DType::f64 ? Tolerance{1e-10, 1e-9} : Tolerance{2e-4, 1e-4};
}

void expect_matches_torch_exprs(const std::vector<TorchExprCase>& cases) {
  std::vector<TorchRefCase> refs;
  for (const TorchExprCase& c : cases) {
    TorchRefCase ref{c.expr + " with a: " + dtype_name(c.inputs[0].dtype()), {{"op", "expr"}, {"expr", c.expr}}, c.fn,
                     {}};
    for (const Tensor& input : c.inputs) {
      Tensor leaf = input.detach();
      if (leaf.is_floating_point()) leaf.requires_grad_(true);
      ref.leaves.push_back(leaf);
    }
    refs.push_back(std::move(ref));
  }
  // Mixed-precision cases are only as exact as their least precise operand (PyTorch may compute a term in it).
  expect_matches_torch_script("expr.py", refs, [](const Tensor& output, const std::vector<Tensor>& leaves) {
    double tol = torch_tolerance(output.dtype());
    for (const Tensor& leaf : leaves)
      if (leaf.is_floating_point()) tol = std::max(tol, torch_tolerance(leaf.dtype()));
    return Tolerance{tol, tol};
  });
}

}  // namespace tessera::testing
