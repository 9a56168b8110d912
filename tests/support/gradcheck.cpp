#include "tests/support/gradcheck.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/ops/elementwise.h"

namespace tessera::testing {

Tensor element_view(const Tensor& t, int64_t flat) {
  int64_t offset = t.offset();
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    offset += (flat % t.shape()[d]) * t.strides()[d];
    flat /= t.shape()[d];
  }
  return make_view(t, {}, {}, offset);
}

Tensor random_leaf(const Shape& shape, uint64_t seed, double low, double high) {
  Generator gen(seed);
  Tensor t = empty(shape, {.dtype = DType::f64});
  uniform_(t, low, high, gen);
  return t.requires_grad_(true);
}

Tensor noncontiguous_leaf(const Shape& shape, uint64_t seed, double low, double high) {
  if (shape.size() < 2) {  // every other element of a buffer twice as long
    Shape doubled = shape;
    if (doubled.empty()) return random_leaf(shape, seed, low, high);
    doubled[0] *= 2;
    Tensor base = random_leaf(doubled, seed, low, high).detach();
    return base.slice(0, 0, doubled[0], 2).detach().requires_grad_(true);
  }
  Shape swapped = shape;
  std::swap(swapped[swapped.size() - 1], swapped[swapped.size() - 2]);
  Tensor base = random_leaf(swapped, seed, low, high).detach();
  Tensor view = base.transpose(-1, -2).detach();
  return view.requires_grad_(true);
}

namespace {
double objective(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
                 const Tensor& weights) {
  NoGradGuard no_grad;
  return sum(mul(fn(inputs).to(DType::f64), weights)).item<double>();
}
}  // namespace

void expect_gradients_match(const std::function<Tensor(const std::vector<Tensor>&)>& fn, std::vector<Tensor> inputs,
                            GradcheckOptions options) {
  for (Tensor& input : inputs) input.set_grad(Tensor());
  Tensor output = fn(inputs);
  Generator gen(1234);
  Tensor weights = empty(output.shape(), {.dtype = DType::f64});
  uniform_(weights, -1.0, 1.0, gen);
  sum(mul(output.to(DType::f64), weights)).backward();

  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    if (!input.requires_grad()) continue;
    ASSERT_EQ(input.dtype(), DType::f64) << "gradcheck inputs must be f64";
    const Tensor analytic = input.grad();
    ASSERT_TRUE(analytic.defined()) << "input " << i << " received no gradient";
    ASSERT_EQ(analytic.shape(), input.shape()) << "input " << i;
    const std::vector<double> analytic_values = analytic.to_vector<double>();
    const std::vector<double> values = input.to_vector<double>();
    int failures = 0;
    for (int64_t k = 0; k < input.numel() && failures < 5; ++k) {
      const Tensor x = element_view(input, k);  // written through the backend: inputs may live on any device
      detail::fill_into(x, values[k] + options.eps);
      const double plus = objective(fn, inputs, weights);
      detail::fill_into(x, values[k] - options.eps);
      const double minus = objective(fn, inputs, weights);
      detail::fill_into(x, values[k]);
      const double numeric = (plus - minus) / (2 * options.eps);
      const double tolerance = options.atol + options.rtol * std::abs(numeric);
      if (std::abs(numeric - analytic_values[k]) > tolerance) {
        ++failures;
        ADD_FAILURE() << "input " << i << " (shape " << shape_str(input.shape()) << ") element " << k
                      << ": analytic " << analytic_values[k] << " vs numeric " << numeric;
      }
    }
  }
}

void expect_close(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  ASSERT_EQ(actual.shape(), expected.shape());
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  int failures = 0;
  for (size_t i = 0; i < a.size() && failures < 5; ++i) {
    const bool same = a[i] == e[i] || (std::isnan(a[i]) && std::isnan(e[i]));  // infinities and NaNs match themselves
    if (!same && !(std::abs(a[i] - e[i]) <= atol + rtol * std::abs(e[i]))) {
      ++failures;
      ADD_FAILURE() << "element " << i << " of shape " << shape_str(actual.shape()) << ": " << a[i] << " vs expected "
                    << e[i];
    }
  }
}

}  // namespace tessera::testing
