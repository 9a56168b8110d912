// The core ops (arithmetic with broadcasting and promotion, views, sum/mean, matmul/linear) against PyTorch:
// values and gradients, in f32 and f64, on contiguous and non-contiguous inputs.
#include <gtest/gtest.h>

#include <functional>

#include "core/core.h"
#include "tests/support/gradcheck.h"
#include "tests/support/torch_ref.h"

namespace tessera {
namespace {

using testing::expect_close;
using testing::tensor_from_json;
using testing::tensor_to_json;
using Inputs = std::vector<Tensor>;

struct Case {
  std::string torch_expr;                        // over inputs a, b, c
  std::function<Tensor(const Inputs&)> tessera;  // the same computation
  std::vector<Shape> shapes;
  bool transpose_first = false;                  // make input a non-contiguous
};

Tensor make_input(const Shape& shape, DType dtype, uint64_t seed, bool transposed) {
  Tensor t = transposed ? testing::noncontiguous_leaf(shape, seed) : testing::random_leaf(shape, seed);
  return t.detach().to(dtype).detach().requires_grad_(true);
}

void run_cases(const std::vector<Case>& cases) {
  if (!testing::torch_available()) GTEST_SKIP() << "python3-torch is not installed";
  for (DType dtype : {DType::f32, DType::f64}) {
    nlohmann::json request = nlohmann::json::array();
    std::vector<Inputs> inputs;
    std::vector<Tensor> outputs, grad_outputs;
    for (size_t c = 0; c < cases.size(); ++c) {
      Inputs in;
      for (size_t i = 0; i < cases[c].shapes.size(); ++i)
        in.push_back(make_input(cases[c].shapes[i], dtype, 100 * c + i, i == 0 && cases[c].transpose_first));
      Tensor out = cases[c].tessera(in);
      Tensor grad_output = testing::random_leaf(out.shape(), 7 + c).detach().to(dtype);
      out.backward(grad_output);
      nlohmann::json j = {{"op", "expr"}, {"expr", cases[c].torch_expr}, {"grad_output", tensor_to_json(grad_output)}};
      for (const Tensor& t : in) j["inputs"].push_back(tensor_to_json(t.contiguous()));
      request.push_back(j);
      inputs.push_back(in);
      outputs.push_back(out);
    }
    const nlohmann::json answers = testing::run_torch_script("expr.py", request);
    const double tol = dtype == DType::f32 ? 1e-5 : 1e-12;
    for (size_t c = 0; c < cases.size(); ++c) {
      SCOPED_TRACE(cases[c].torch_expr + " in " + dtype_name(dtype));
      expect_close(outputs[c], tensor_from_json(answers[c]["output"]), tol, tol);
      for (size_t i = 0; i < inputs[c].size(); ++i) {
        SCOPED_TRACE("gradient of input " + std::to_string(i));
        expect_close(inputs[c][i].grad(), tensor_from_json(answers[c]["grads"][i]), tol, tol);
      }
    }
  }
}

TEST(CoreVsTorch, BroadcastingArithmetic) {
  run_cases({
      {"a + b", [](const Inputs& x) { return x[0] + x[1]; }, {{3, 4}, {4}}},
      {"torch.sub(a, b, alpha=0.5)", [](const Inputs& x) { return sub(x[0], x[1], 0.5); }, {{2, 1, 4}, {3, 1}}},
      {"a * b", [](const Inputs& x) { return x[0] * x[1]; }, {{4, 3}, {4, 1}}, true},
      {"a / (b * b + 1)", [](const Inputs& x) { return x[0] / (x[1] * x[1] + 1.0); }, {{2, 3}, {2, 3}}},
      {"2 - a * 3 + 1 / (a + 4)", [](const Inputs& x) { return 2.0 - x[0] * 3.0 + 1.0 / (x[0] + 4.0); }, {{5}}},
      {"-a", [](const Inputs& x) { return -x[0]; }, {{3, 2}}, true},
  });
}

TEST(CoreVsTorch, ViewsAndReductions) {
  run_cases({
      {"a.t().reshape(-1)", [](const Inputs& x) { return x[0].t().reshape({-1}); }, {{3, 4}}},
      {"a.permute(2, 0, 1)[:, 1:3]", [](const Inputs& x) { return x[0].permute({2, 0, 1}).slice(1, 1, 3); },
       {{3, 4, 2}}},
      {"a[:, 1] * 2", [](const Inputs& x) { return x[0].select(1, 1) * 2.0; }, {{3, 4}}, true},
      {"a.unsqueeze(1).expand(3, 2, 4)", [](const Inputs& x) { return x[0].unsqueeze(1).expand({3, 2, 4}); },
       {{3, 4}}},
      {"a.sum(dim=(0, 2), keepdim=True)", [](const Inputs& x) { return x[0].sum({0, 2}, true); }, {{2, 3, 4}}},
      {"a.mean(dim=1)", [](const Inputs& x) { return x[0].mean({1}); }, {{4, 5}}, true},
      {"a.sum()", [](const Inputs& x) { return x[0].sum(); }, {{6, 7}}},
      {"a.flatten(1)", [](const Inputs& x) { return x[0].flatten(1); }, {{2, 3, 4}}},
  });
}

TEST(CoreVsTorch, MatmulAndLinear) {
  run_cases({
      {"a @ b", [](const Inputs& x) { return matmul(x[0], x[1]); }, {{5, 3}, {3, 4}}, true},
      {"torch.matmul(a, b)", [](const Inputs& x) { return matmul(x[0], x[1]); }, {{2, 5, 3}, {3, 4}}},
      {"torch.matmul(a, b)", [](const Inputs& x) { return matmul(x[0], x[1]); }, {{2, 1, 5, 3}, {4, 3, 2}}},
      {"torch.matmul(a, b)", [](const Inputs& x) { return matmul(x[0], x[1]); }, {{3}, {3, 4}}},
      {"torch.bmm(a, b)", [](const Inputs& x) { return bmm(x[0], x[1]); }, {{2, 3, 4}, {2, 4, 5}}},
      {"F.linear(a, b, c)", [](const Inputs& x) { return linear(x[0], x[1], x[2]); }, {{6, 3}, {4, 3}, {4}}},
      {"F.linear(a, b)", [](const Inputs& x) { return linear(x[0], x[1]); }, {{2, 6, 3}, {4, 3}}},
  });
}

}  // namespace
}  // namespace tessera
