// The CPU's vectorisable f32 math (kernels/cpu/vec_math.h) within the error its header states, against the f64
// <cmath> result rounded to f32, over a dense sweep of each function's range, and at the special values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/vec_math.h"

namespace tessera::detail {
namespace {

// |got - want| in units of the last place of want (as an f32), want computed in f64.
double ulp_error(float got, double want) {
  const float rounded = static_cast<float>(want);
  const double ulp = std::nextafter(std::abs(rounded), std::numeric_limits<float>::infinity()) - std::abs(rounded);
  return std::abs(static_cast<double>(got) - want) / ulp;
}

template <typename F, typename Reference>
double worst_ulp_error(F f, Reference reference, float from, float to, int samples) {
  double worst = 0;
  for (int i = 0; i <= samples; ++i) {
    const float x = from + (to - from) * static_cast<float>(i) / static_cast<float>(samples);
    worst = std::max(worst, ulp_error(f(x), reference(static_cast<double>(x))));
  }
  return worst;
}

TEST(CpuVecMath, ErfWithinTwoUlp) {
  const auto erf = [](float x) { return erf_f32(x); };
  const auto reference = [](double x) { return std::erf(x); };
  // Across the switch at 0.927734375, the exp form, and the tail where erf rounds to 1; tiny arguments too.
  EXPECT_LE(worst_ulp_error(erf, reference, -6.0f, 6.0f, 2000000), 2.0);
  EXPECT_LE(worst_ulp_error(erf, reference, -1e-3f, 1e-3f, 100000), 2.0);
  EXPECT_LE(worst_ulp_error(erf, reference, 0.8f, 0.95f, 100000), 2.0);
  EXPECT_EQ(erf_f32(0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(erf_f32(-0.0f)));
  EXPECT_EQ(erf_f32(std::numeric_limits<float>::infinity()), 1.0f);
  EXPECT_EQ(erf_f32(-std::numeric_limits<float>::infinity()), -1.0f);
  EXPECT_TRUE(std::isnan(erf_f32(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_LE(ulp_error(erf_f32(1e-30f), std::erf(1e-30)), 1.0);
}

TEST(CpuVecMath, ExpSigmoidAndTanhWithinTheirBounds) {
  EXPECT_LE(worst_ulp_error([](float x) { return exp_f32(x); }, [](double x) { return std::exp(x); }, -87.0f, 88.0f,
                            1000000),
            1.0);
  EXPECT_LE(worst_ulp_error([](float x) { return sigmoid_f32(x); }, [](double x) { return 1 / (1 + std::exp(-x)); },
                            -80.0f, 80.0f, 1000000),
            2.6);  // measured 2.52, in the tail where it is e * 1 / (1 + e)
  EXPECT_LE(worst_ulp_error([](float x) { return tanh_f32(x); }, [](double x) { return std::tanh(x); }, -10.0f, 10.0f,
                            1000000),
            2.0);
}

}  // namespace
}  // namespace tessera::detail
