// bf16 and f16 GEMMs and convolutions take half inputs, accumulate in f32 and round once to the half type at the end
// (PyTorch's rule; cuBLASLt's CUBLAS_COMPUTE_32F, cuDNN's PSEUDO_HALF/PSEUDO_BFLOAT16 configurations, oneDNN's
// f32 accumulators, the CPU's widened route). Each result is then within half an ulp (unit roundoff u: 2^-8 for
// bf16, 2^-11 for f16) of the f64 result on the same rounded inputs, plus f32's own summation error. Sums kept in the
// half type miss that bound on most outputs at these depths (checked with PyTorch: ~80 of 128 outputs of the conv
// below for both types). A bias added after rounding is a second rounding, allowed only where stated.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <utility>

#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

constexpr std::pair<DType, double> kHalfTypes[] = {{DType::bf16, 0x1p-8}, {DType::f16, 0x1p-11}};

using Op = std::function<Tensor(const std::vector<Tensor>&)>;

// `op` on the half-type copies of `inputs` against op on their f64 widening: within u of the result plus `depth`
// f32 roundings of terms of magnitude at most 1 (inputs in [-1, 1]). Where the result was rounded once more before
// its last operation, `rounded_before` computes the value rounded then, and u of it is allowed too.
void expect_accumulated_in_f32(const std::vector<Tensor>& inputs, int64_t depth, const Op& op, const std::string& what,
                               const Op& rounded_before = {}) {
  for (auto [half, unit_roundoff] : kHalfTypes) {
    std::vector<Tensor> low, wide;
    for (const Tensor& input : inputs) {
      low.push_back(input.to(half));
      wide.push_back(low.back().to(DType::f64).to(Device()));
    }
    const Tensor result = op(low);
    EXPECT_EQ(result.dtype(), half) << what;
    const std::vector<double> got = result.to(DType::f64).to_vector<double>(), want = op(wide).to_vector<double>();
    const std::vector<double> before =
        rounded_before ? rounded_before(wide).to_vector<double>() : std::vector<double>(want.size(), 0.0);
    int failures = 0;
    for (size_t i = 0; i < got.size() && failures < 5; ++i) {
      const double bound =
          static_cast<double>(depth) * 0x1p-24 + unit_roundoff * (std::abs(want[i]) + std::abs(before[i]));
      if (std::abs(got[i] - want[i]) <= bound) continue;
      ++failures;
      ADD_FAILURE() << what << " in " << dtype_name(half) << ", element " << i << ": " << got[i] << " vs " << want[i]
                    << " (bound " << bound << ")";
    }
  }
}

Tensor uniform(const Shape& shape, uint64_t seed) {
  return uniform_tensor(shape, DType::f32, seed).to(default_device());
}

// The CUDA backend adds a convolution's bias after cuDNN has rounded the sum, as PyTorch's cuDNN route does: two
// roundings there, one on the CPU.
TEST(HalfAccumulation, Conv2d) {
  const Tensor x = uniform({2, 3, 6, 6}, 1), w = uniform({4, 3, 3, 3}, 2), b = uniform({4}, 3);
  const Op without_bias = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1]); };
  const Op with_bias = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2]); };
  expect_accumulated_in_f32({x, w}, 27, without_bias, "conv2d");
  expect_accumulated_in_f32({x, w, b}, 28, with_bias, "conv2d with bias", without_bias);
}

TEST(HalfAccumulation, GemmsWithAndWithoutBias) {
  const Tensor a = uniform({3, 5, 64}, 4), w = uniform({6, 64}, 5), b = uniform({6}, 6);
  const Op mm_op = [](const std::vector<Tensor>& in) { return mm(in[0], in[1].t()); };
  const Op matmul_op = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1].t()); };
  const Op bmm_op = [](const std::vector<Tensor>& in) { return bmm(in[0], in[1].transpose(1, 2)); };
  const Op linear_op = [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); };
  expect_accumulated_in_f32({a.select(0, 0), w}, 64, mm_op, "mm");
  expect_accumulated_in_f32({a, w}, 64, matmul_op, "matmul");
  expect_accumulated_in_f32({a, w.unsqueeze(0).expand({3, 6, 64}).contiguous()}, 64, bmm_op, "bmm");
  expect_accumulated_in_f32({a, w, b}, 65, linear_op, "linear (bias in the GEMM's epilogue)");
}

}  // namespace
}  // namespace tessera
