// NaN propagation against PyTorch 1.13 (issue 14, item 7), values and gradients, on inputs holding NaN, infinities
// and ties: relu, max/min over all elements and along a dim (values, indices), argmax/argmin, elementwise
// maximum/minimum (broadcast, promoted), clamp and max_pool2d (the 2x2 fast path, its vector groups, and
// general windows).
// PyTorch's rules: a NaN wins a max or min (the first NaN along a dim, the last in a pooling window, either side of
// maximum/minimum); max()/min() over all share the gradient among the NaNs; maximum/minimum pass it to both sides of
// a NaN (half each on ties); clamp keeps NaN with a zero gradient; relu keeps NaN and passes its gradient.
// Why: one NaN silently turned into a number let a bad sample turn weights NaN unnoticed.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/core.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// `shape` values on a grid of ties with NaN, inf and -inf spread through them (no row or window without NaN
// would test nothing; several NaNs per row test which one wins).
Tensor with_nans(const Shape& shape, DType dtype, uint64_t seed) {
  std::vector<double> v = (uniform_tensor(shape, DType::f64, seed, -2.0, 2.0) * 2.0).to(DType::i64).to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i) {
    if (i % 7 == 3 || i % 11 == 5) v[i] = kNan;
    else if (i % 13 == 6) v[i] = kInf;
    else if (i % 17 == 8) v[i] = -kInf;
  }
  return tensor(v, shape).to(dtype).detach().requires_grad_();
}

TEST(NanPropagation, MatchesTorch) {
  std::vector<TorchExprCase> cases;
  for (DType dtype : {DType::f32, DType::f64}) {
    const auto x = [dtype](const Shape& s, uint64_t seed) { return with_nans(s, dtype, seed); };
    const std::vector<TorchExprCase> each = {
        {"torch.relu(a)", [](const Inputs& in) { return relu(in[0]); }, {x({5, 6}, 1)}},
        {"torch.max(a)", [](const Inputs& in) { return max(in[0]); }, {x({4, 5}, 2)}},
        {"torch.min(a)", [](const Inputs& in) { return min(in[0]); }, {x({4, 5}, 3)}},
        {"torch.max(a, 1)[0]", [](const Inputs& in) { return max(in[0], 1).first; }, {x({6, 9}, 4)}},
        {"torch.max(a, 1)[1]", [](const Inputs& in) { return max(in[0], 1).second; }, {x({6, 9}, 4)}},
        {"torch.min(a, 0)[0]", [](const Inputs& in) { return min(in[0], 0).first; }, {x({9, 4}, 5)}},
        {"torch.min(a, 0)[1]", [](const Inputs& in) { return min(in[0], 0).second; }, {x({9, 4}, 5)}},
        {"torch.argmax(a, -1)", [](const Inputs& in) { return argmax(in[0], -1); }, {x({3, 4, 8}, 6)}},
        {"torch.argmin(a, 1)", [](const Inputs& in) { return argmin(in[0], 1); }, {x({3, 8, 4}, 7)}},
        {"torch.clamp(a, -0.5, 0.5)", [](const Inputs& in) { return clamp(in[0], -0.5, 0.5); }, {x({5, 6}, 8)}},
        {"torch.clamp(a, min=0.0)", [](const Inputs& in) { return clamp(in[0], 0.0, std::nullopt); }, {x({30}, 9)}},
        {"torch.clamp(a, max=1.0)", [](const Inputs& in) { return clamp(in[0], std::nullopt, 1.0); }, {x({30}, 10)}},
        {"torch.maximum(a, b)", [](const Inputs& in) { return maximum(in[0], in[1]); },
         {x({5, 6}, 13), x({5, 6}, 14)}},
        {"torch.minimum(a, b)", [](const Inputs& in) { return minimum(in[0], in[1]); },
         {x({4, 1, 6}, 15), x({3, 1}, 16)}},
        {"F.max_pool2d(a, 2)", [](const Inputs& in) { return max_pool2d(in[0], {}); }, {x({2, 3, 6, 8}, 11)}},
        // 21 windows a row (and an odd width): the f32 kernel's groups of 4, the last moved back over the 20th.
        {"F.max_pool2d(a, 2)", [](const Inputs& in) { return max_pool2d(in[0], {}); }, {x({2, 3, 4, 43}, 19)}},
        {"F.max_pool2d(a, 3, 2, 1)",
         [](const Inputs& in) {
           return max_pool2d(in[0], {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}});
         },
         {x({2, 2, 7, 9}, 12)}},
    };
    cases.insert(cases.end(), each.begin(), each.end());
  }
  // Type promotion (the gradient in each input's dtype) and integers.
  cases.push_back({"torch.maximum(a, b)", [](const Inputs& in) { return maximum(in[0], in[1]); },
                   {with_nans({7}, DType::f32, 17), with_nans({7}, DType::f64, 18)}});
  cases.push_back({"torch.minimum(a, b)", [](const Inputs& in) { return minimum(in[0], in[1]); },
                   {tensor<int64_t>({3, -2, 5, 0}), tensor<int64_t>({1, -2, 7, -9})}});
  testing::expect_matches_torch_exprs(cases);
}

}  // namespace
}  // namespace tessera
