// The core ops (arithmetic with broadcasting and promotion, views, sum/mean, matmul/linear) against PyTorch:
// values and gradients, in f32 and f64, on contiguous and non-contiguous inputs.
#include <gtest/gtest.h>

#include <functional>

#include "core/core.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

struct Case {
  std::string torch_expr;                        // over inputs a, b, c
  std::function<Tensor(const Inputs&)> tessera;  // the same computation
  std::vector<Shape> shapes;
  bool transpose_first = false;                  // make input a non-contiguous
};

// Every case in f32 and in f64, through the shared harness (one python call).
void run_cases(const std::vector<Case>& cases) {
  std::vector<testing::TorchExprCase> exprs;
  for (DType dtype : {DType::f32, DType::f64}) {
    for (size_t c = 0; c < cases.size(); ++c) {
      Inputs in;
      for (size_t i = 0; i < cases[c].shapes.size(); ++i) {
        const bool transposed = i == 0 && cases[c].transpose_first;
        const uint64_t seed = 100 * c + i;
        in.push_back(transposed ? testing::transposed_tensor(cases[c].shapes[i], dtype, seed)
                                : testing::uniform_tensor(cases[c].shapes[i], dtype, seed));
      }
      exprs.push_back({cases[c].torch_expr, cases[c].tessera, std::move(in)});
    }
  }
  testing::expect_matches_torch_exprs(exprs);
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
      // The rank cases of torch.matmul that take their own route, and linear on one sample.
      {"torch.matmul(a, b)", [](const Inputs& x) { return matmul(x[0], x[1]); }, {{4}, {4}}},
      {"torch.matmul(a, b)", [](const Inputs& x) { return matmul(x[0], x[1]); }, {{3}, {2, 3, 4}}},
      {"torch.matmul(a, b)", [](const Inputs& x) { return matmul(x[0], x[1]); }, {{5, 3}, {2, 3, 4}}, true},
      {"torch.matmul(a, b)", [](const Inputs& x) { return matmul(x[0], x[1]); }, {{2, 5, 3}, {2, 3, 4}}, true},
      {"F.linear(a, b, c)", [](const Inputs& x) { return linear(x[0], x[1], x[2]); }, {{3}, {4, 3}, {4}}},
      // Empty operands with a batch: the folded batch is named by its size (-1 has no unique value there).
      {"torch.matmul(a, b)", [](const Inputs& x) { return matmul(x[0], x[1]); }, {{0}, {2, 0, 3}}},
      {"torch.matmul(a, b)", [](const Inputs& x) { return matmul(x[0], x[1]); }, {{0, 3}, {2, 3, 4}}},
  });
}

// torch.arange infers its dtype from its numbers: i64 for whole ones, the default float type otherwise. (The unused
// input a only carries the harness's dtype label.)
TEST(CoreVsTorch, ArangeInfersTheDtypeAsPyTorch) {
  const Tensor label = tensor<int64_t>({0});
  testing::expect_matches_torch_exprs({
      {"torch.arange(5)", [](const Inputs&) { return arange(5); }, {label}},
      {"torch.arange(1, 7, 2)", [](const Inputs&) { return arange(1, 7, 2); }, {label}},
      {"torch.arange(1, 2, 0.25)", [](const Inputs&) { return arange(1, 2, 0.25); }, {label}},
      {"torch.arange(0, 1, 0.1)", [](const Inputs&) { return arange(0, 1, 0.1); }, {label}},
      {"torch.arange(2.5)", [](const Inputs&) { return arange(2.5); }, {label}},
      {"torch.arange(-1.5, 1.5)", [](const Inputs&) { return arange(-1.5, 1.5); }, {label}},
  });
}

}  // namespace
}  // namespace tessera
