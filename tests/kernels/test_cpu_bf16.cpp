// The CPU's bf16 GEMM and convolution on oneDNN's bf16 kernels (kernels/cpu/gemm_onednn_bf16.cpp, conv_onednn.cpp)
// against independent results: the operands widened to f32 and computed by the f32 kernels (sgemm, the f32
// convolution), rounded once to bf16. Only the summation order differs: each element may be off by its bf16 rounding
// step plus f32 summation error, while a wrong stride, transpose, layout or leading dimension is off by the size of
// the values themselves. Where the CPU has no bf16 units the oneDNN functions decline (then these tests skip: the
// CPU widens instead, which the Autocast suites cover, as ctest's DNNL_MAX_CPU_ISA=AVX512_CORE entry does anywhere);
// where it has them, every case here must run on oneDNN: a decline is a failure.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/dtype.h"
#include "kernels/cpu/conv_2d.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/onednn_context.h"

namespace tessera::kernels::cpu {
namespace {

struct Case {
  int64_t m, n, k;
  bool a_transposed, b_transposed;
  int64_t pad;  // extra columns in every stored row (leading dimensions beyond the matrix)
  float beta;
};

std::vector<bf16> random_bf16(size_t count, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<bf16> out(count);
  for (bf16& v : out) v = bf16(dist(gen));
  return out;
}

std::vector<float> widened(const std::vector<bf16>& v) { return {v.begin(), v.end()}; }

// The distance from `value` to the next bf16 away from zero.
float bf16_step(float value) {
  int exponent = 0;
  std::frexp(value, &exponent);
  return std::ldexp(1.0f, exponent - 8);
}

// got (bf16) against expected (f32, from widened operands) for `count` elements, each a sum of `terms` products of
// values within [-1, 1].
void expect_rounded(const bf16* got, const float* expected, int64_t count, int64_t terms, const std::string& name) {
  int bad = 0;
  for (int64_t i = 0; i < count; ++i) {
    const float tolerance = bf16_step(expected[i]) + 1e-6f * static_cast<float>(terms + 1);
    if (std::abs(static_cast<float>(got[i]) - expected[i]) > tolerance && ++bad <= 5)
      ADD_FAILURE() << name << " at " << i << ": " << static_cast<float>(got[i]) << ", expected " << expected[i];
  }
  EXPECT_EQ(bad, 0) << name;
}

void check(const Case& c) {
  const std::string name = std::to_string(c.m) + "x" + std::to_string(c.n) + "x" + std::to_string(c.k) +
                           (c.a_transposed ? " A^T" : "") + (c.b_transposed ? " B^T" : "") + " pad " +
                           std::to_string(c.pad) + " beta " + std::to_string(c.beta);
  // Stored shapes: A is m x k (k x m when transposed), B is k x n (n x k when transposed), C is m x n.
  const int64_t a_rows = c.a_transposed ? c.k : c.m, a_cols = (c.a_transposed ? c.m : c.k) + c.pad;
  const int64_t b_rows = c.b_transposed ? c.n : c.k, b_cols = (c.b_transposed ? c.k : c.n) + c.pad;
  const int64_t ldc = c.n + c.pad;
  const std::vector<bf16> a = random_bf16(a_rows * a_cols, 1), b = random_bf16(b_rows * b_cols, 2);
  const std::vector<bf16> c_before = random_bf16(c.m * ldc, 3);
  std::vector<bf16> got = c_before;
  const MatrixRef ra{a.data(), a_cols, c.a_transposed}, rb{b.data(), b_cols, c.b_transposed};
  ASSERT_TRUE(onednn_gemm_bf16(c.m, c.n, c.k, 1.0f, ra, rb, c.beta, got.data(), ldc)) << name << " was declined";

  const std::vector<float> wa = widened(a), wb = widened(b);
  std::vector<float> expected = widened(c_before);
  gemm_f32(c.m, c.n, c.k, 1.0f, {wa.data(), a_cols, c.a_transposed}, {wb.data(), b_cols, c.b_transposed}, c.beta,
           expected.data(), ldc);
  for (int64_t i = 0; i < c.m; ++i) {
    const int64_t row = i * ldc;
    expect_rounded(got.data() + row, expected.data() + row, c.n, c.k, name + " row " + std::to_string(i));
    for (int64_t j = c.n; j < ldc; ++j)  // past the matrix: never written
      EXPECT_EQ(got[row + j].bits, c_before[row + j].bits) << name << " wrote C's padding at " << i << "," << j;
  }
}

// The MLP benchmark's shapes (batch 128, 784-256-128-10) in each of a training step's three products, and odd ones:
// a dimension of 1, rows wider than the matrix, C accumulated into (beta = 1).
#define SKIP_WITHOUT_BF16_UNITS()                                                                                  \
  if (!onednn_bf16_units())                                                                                        \
  GTEST_SKIP() << "this CPU has no bf16 units (AVX512-BF16, AMX): oneDNN's bf16 kernels are not used, the CPU widens"

TEST(CpuGemmBf16, EqualsTheWidenedProductRoundedOnce) {
  SKIP_WITHOUT_BF16_UNITS();
  const std::vector<Case> cases = {
      {128, 256, 784, false, true, 0, 0.0f},  {128, 784, 256, false, false, 0, 0.0f},
      {256, 784, 128, true, false, 0, 0.0f},  {128, 10, 128, false, true, 0, 0.0f},
      {10, 128, 128, true, false, 0, 0.0f},   {33, 17, 20, true, true, 0, 0.0f},
      {1, 17, 20, false, false, 0, 0.0f},     {5, 1, 20, false, true, 0, 0.0f},
      {5, 17, 1, false, false, 0, 0.0f},      {31, 19, 45, false, false, 3, 0.0f},
      {31, 19, 45, true, true, 5, 0.0f},      {64, 48, 40, false, true, 0, 1.0f},
      {20, 30, 25, true, false, 2, 0.5f}};
  for (const Case& c : cases) check(c);
}

// alpha != 1 is not one of the plans: declined, for gemm.cpp to widen.
TEST(CpuGemmBf16, DeclinesAScaledProduct) {
  std::vector<bf16> a(4, bf16(1.0f)), b(4, bf16(1.0f)), c(4, bf16(7.0f));
  EXPECT_FALSE(onednn_gemm_bf16(2, 2, 2, 0.5f, {a.data(), 2, false}, {b.data(), 2, false}, 0.0f, c.data(), 2));
  for (const bf16& v : c) EXPECT_EQ(static_cast<float>(v), 7.0f);
}

std::vector<float> rounded_f32(std::vector<float> v) {  // what a bf16 result read back as f32 can hold
  for (float& x : v) x = static_cast<float>(bf16(x));
  return v;
}

// Forward, backward data, backward weights and bias of one geometry, against the f32 convolution of the widened
// buffers. `onednn` false: a geometry oneDNN cannot express (conv2d_*_bf16 widen it; the comparison is then exact).
void check_conv(Conv2dGeometry g, bool bias, bool onednn, const std::string& name) {
  g.compute_output_size();
  const int64_t xn = g.batch * g.in_channels * g.in_h * g.in_w;
  const int64_t wn = g.out_channels * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
  const int64_t yn = g.batch * g.out_channels * g.out_h * g.out_w;
  const std::vector<bf16> x = random_bf16(xn, 4), w = random_bf16(wn, 5), b = random_bf16(g.out_channels, 6);
  const std::vector<bf16> gy = random_bf16(yn, 7);
  const void* bp = bias ? b.data() : nullptr;
  std::vector<bf16> y(yn), gx(xn), gw(wn), gb(g.out_channels);
  if (onednn) {
    ASSERT_TRUE(onednn_conv2d_forward_bf16(g, x.data(), w.data(), bp, y.data())) << name << " was declined";
    ASSERT_TRUE(onednn_conv2d_backward_bf16(g, x.data(), gy.data(), w.data(), gx.data(), gw.data(),
                                            bias ? gb.data() : nullptr)) << name;
  } else {
    ASSERT_FALSE(onednn_conv2d_forward_bf16(g, x.data(), w.data(), bp, y.data())) << name;
    conv2d_forward_bf16(g, x.data(), w.data(), bp, y.data());
    conv2d_backward_bf16(g, x.data(), gy.data(), w.data(), gx.data(), gw.data(), bias ? gb.data() : nullptr);
  }
  const std::vector<float> xf = widened(x), wf = widened(w), bf = widened(b), gyf = widened(gy);
  std::vector<float> yf(yn), gxf(xn), gwf(wn), gbf(g.out_channels);
  conv2d_forward<float>(g, xf.data(), wf.data(), bias ? bf.data() : nullptr, yf.data());
  conv2d_backward<float>(g, xf.data(), gyf.data(), wf.data(), gxf.data(), gwf.data(), bias ? gbf.data() : nullptr);
  const int64_t window = g.kernel_h * g.kernel_w;
  if (!onednn) {  // the same f32 kernels, rounded once: bit for bit
    EXPECT_EQ(widened(y), rounded_f32(yf)) << name;
    EXPECT_EQ(widened(gx), rounded_f32(gxf)) << name;
    EXPECT_EQ(widened(gw), rounded_f32(gwf)) << name;
    EXPECT_EQ(widened(gb), rounded_f32(gbf)) << name;
    return;
  }
  expect_rounded(y.data(), yf.data(), yn, g.in_channels / g.groups * window + 1, name + " forward");
  expect_rounded(gx.data(), gxf.data(), xn, g.out_channels / g.groups * window, name + " backward data");
  expect_rounded(gw.data(), gwf.data(), wn, g.batch * g.out_h * g.out_w, name + " backward weights");
  if (bias) expect_rounded(gb.data(), gbf.data(), g.out_channels, g.batch * g.out_h * g.out_w, name + " bias");
}

// The benchmark CNN's two layers (one input channel; 32 -> 64 channels), and strides, groups, dilation, no bias.
TEST(CpuConvBf16, EqualsTheWidenedConvolutionRoundedOnce) {
  SKIP_WITHOUT_BF16_UNITS();
  using G = Conv2dGeometry;
  check_conv(G{.batch = 8, .in_channels = 1, .in_h = 28, .in_w = 28, .out_channels = 32, .kernel_h = 3,
               .kernel_w = 3, .pad_h = 1, .pad_w = 1}, true, true, "layer 1");
  check_conv(G{.batch = 8, .in_channels = 32, .in_h = 14, .in_w = 14, .out_channels = 64, .kernel_h = 3,
               .kernel_w = 3, .pad_h = 1, .pad_w = 1}, true, true, "layer 2");
  check_conv(G{.batch = 3, .in_channels = 6, .in_h = 11, .in_w = 9, .out_channels = 8, .kernel_h = 3, .kernel_w = 2,
               .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 0, .groups = 2}, true, true, "strided, grouped");
  check_conv(G{.batch = 2, .in_channels = 5, .in_h = 10, .in_w = 10, .out_channels = 7, .kernel_h = 3, .kernel_w = 3,
               .pad_h = 2, .pad_w = 2, .dilation_h = 2, .dilation_w = 2}, false, true, "dilated, no bias");
}

// A trailing input row no window reaches makes oneDNN's right padding negative: declined, and widened instead.
TEST(CpuConvBf16, AGeometryOneDnnCannotExpressIsWidened) {
  check_conv(Conv2dGeometry{.batch = 2, .in_channels = 3, .in_h = 6, .in_w = 6, .out_channels = 4, .kernel_h = 3,
                            .kernel_w = 3, .stride_h = 2, .stride_w = 2}, true, false, "stride 2 over 6");
}

}  // namespace
}  // namespace tessera::kernels::cpu
