// conv2d and 2-D pooling: finite-difference gradients (f64, including non-contiguous inputs) and forward/backward
// against PyTorch in f32 (the oneDNN path, plain and blocked layouts) and f64 (the im2col path).
#include <gtest/gtest.h>

#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

using testing::TorchRefCase;

// A case for conv_pool.py: handler `op` with keyword arguments `options`.
TorchRefCase conv_pool_case(const std::string& op, const json& options,
                            std::function<Tensor(const Inputs&)> fn, Inputs leaves) {
  return {op + " " + options.dump() + " " + dtype_name(leaves[0].dtype()), {{"op", op}, {"options", options}},
          std::move(fn), std::move(leaves)};
}

struct ConvCase {
  Shape x, w;
  bool bias;
  Conv2dOptions o;
  bool input_grad = true;
};

std::vector<ConvCase> conv_cases() {
  return {
      {{2, 3, 7, 6}, {4, 3, 3, 3}, true, {}},
      {{2, 3, 9, 8}, {5, 3, 3, 2}, true, {.stride = {2, 1}, .padding = {1, 0}}},
      {{1, 4, 10, 10}, {6, 2, 3, 3}, false, {.padding = {2, 2}, .dilation = {2, 2}, .groups = 2}},
      {{2, 16, 8, 8}, {16, 16, 3, 3}, true, {.padding = {1, 1}}},                   // blocked oneDNN layout
      {{2, 32, 9, 9}, {64, 8, 3, 3}, true, {.stride = {2, 2}, .groups = 4}},        // blocked, grouped
      {{3, 8, 6, 6}, {4, 8, 1, 1}, true, {.stride = {2, 2}}},                       // oneDNN rejects: im2col
      {{2, 8, 5, 5}, {8, 1, 3, 3}, true, {.padding = {1, 1}, .groups = 8}},         // depthwise
      {{2, 6, 4, 5}, {3, 6, 1, 1}, false, {}},                                      // pointwise
      {{3, 5, 5}, {2, 3, 3, 3}, true, {.padding = {1, 0}}},                         // unbatched
      {{2, 1, 28, 28}, {32, 1, 3, 3}, true, {.padding = {1, 1}}, false},            // benchmark layer 1
      {{2, 32, 14, 14}, {64, 32, 3, 3}, true, {}},                                  // benchmark layer 2
  };
}

// in = {x, w} or {x, w, bias}; an absent bias may also be an undefined tensor.
Tensor run_conv(const Inputs& in, const Conv2dOptions& o) {
  return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), o);
}

TEST(ConvPool, Conv2dMatchesFiniteDifferences) {
  uint64_t seed = 1;
  for (const ConvCase& c : conv_cases()) {
    if (shape_numel(c.x) > 1500) continue;  // the benchmark shapes are too big for finite differences
    SCOPED_TRACE(shape_str(c.x) + " * " + shape_str(c.w));
    Inputs inputs{random_leaf(c.x, seed), random_leaf(c.w, seed + 1)};
    if (c.bias) inputs.push_back(random_leaf({c.w[0]}, seed + 2));
    expect_gradients_match([&](const Inputs& in) { return run_conv(in, c.o); }, inputs);
    seed += 3;
  }
  // Non-contiguous input and weight.
  expect_gradients_match([](const Inputs& in) { return conv2d(in[0], in[1], in[2], {.stride = {1, 2}, .padding = {1, 1}}); },
                         {noncontiguous_leaf({2, 2, 5, 4}, 50), noncontiguous_leaf({3, 2, 2, 3}, 51),
                          noncontiguous_leaf({3}, 52)});
  expect_gradients_match([](const Inputs& in) { return conv2d(in[0].permute({0, 3, 1, 2}), in[1], Tensor(), {}); },
                         {random_leaf({2, 4, 5, 3}, 53), random_leaf({2, 3, 2, 2}, 54)});
}

TEST(ConvPool, Conv2dMatchesTorch) {
  if (!testing::torch_available()) GTEST_SKIP() << "python3 with torch not found";
  std::vector<TorchRefCase> cases;
  uint64_t seed = 100;
  for (DType dtype : {DType::f32, DType::f64})
    for (const ConvCase& c : conv_cases()) {
      const Conv2dOptions o = c.o;
      cases.push_back(conv_pool_case(
          "conv2d", {{"stride", o.stride}, {"padding", o.padding}, {"dilation", o.dilation}, {"groups", o.groups}},
          [o](const Inputs& in) { return run_conv(in, o); },
          {uniform_tensor(c.x, dtype, seed).requires_grad_(c.input_grad),
           uniform_tensor(c.w, dtype, seed + 1).requires_grad_(),
           c.bias ? uniform_tensor({c.w[0]}, dtype, seed + 2).requires_grad_() : Tensor()}));
      seed += 3;
    }
  testing::expect_matches_torch_script("conv_pool.py", cases, testing::accumulation_tolerance);
}

TEST(ConvPool, Conv2dRejectsMismatchedShapes) {
  const Tensor x = zeros({1, 3, 5, 5});
  EXPECT_THROW(conv2d(x, zeros({4, 2, 3, 3})), Error);
  EXPECT_THROW(conv2d(x, zeros({4, 3, 3, 3}), zeros({3})), Error);
  EXPECT_THROW(conv2d(x, zeros({4, 3, 7, 7})), Error);
  EXPECT_THROW(conv2d(x, zeros({4, 1, 3, 3}), Tensor(), {.groups = 2}), Error);
  EXPECT_THROW(conv2d(zeros({5, 5}), zeros({4, 1, 3, 3})), Error);
  // A kernel overhanging the padded input by less than the stride: (2 - 3) / 2 + 1 truncated to 1 row, a window
  // partly outside the input, where PyTorch refuses.
  expect_error([] { conv2d(zeros({1, 1, 2, 2}), zeros({1, 1, 3, 3}), Tensor(), {.stride = {2, 2}}); },
               {"conv2d", "[1, 1, 2, 2]", "smaller than the dilated kernel"});
  expect_error([] { conv2d(zeros({1, 1, 0, 5}), zeros({1, 1, 3, 3}), Tensor(), {.stride = {2, 2}, .padding = {1, 1}}); },
               {"conv2d", "smaller than the dilated kernel"});
}

struct PoolCase {
  std::string op;  // max_pool2d, avg_pool2d, adaptive_avg_pool2d
  Shape x;
  Pool2dOptions o;
  std::array<int64_t, 2> output_size{0, 0};  // adaptive only
};

std::vector<PoolCase> pool_cases() {
  std::vector<PoolCase> cases;
  for (std::string op : {"max_pool2d", "avg_pool2d"}) {
    cases.push_back({op, {2, 3, 8, 8}, {.kernel_size = {2, 2}}});
    cases.push_back({op, {2, 3, 7, 9}, {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}});
    cases.push_back({op, {2, 2, 7, 7}, {.kernel_size = {2, 2}, .stride = {2, 2}, .ceil_mode = true}});
    cases.push_back({op, {1, 2, 10, 9}, {.kernel_size = {3, 2}, .stride = {2, 1}, .padding = {1, 0}}});
    cases.push_back({op, {2, 2, 6, 5}, {.kernel_size = {2, 2}, .stride = {1, 1}}});
    cases.push_back({op, {3, 6, 6}, {.kernel_size = {2, 2}}});
    cases.push_back({op, {2, 2, 8, 7}, {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true}});
  }
  cases.push_back({"avg_pool2d", {2, 3, 7, 9},
                   {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .count_include_pad = false}});
  cases.push_back({"avg_pool2d", {2, 2, 8, 7},
                   {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true,
                    .count_include_pad = false}});
  cases.push_back({"adaptive_avg_pool2d", {2, 3, 7, 9}, {}, {3, 4}});
  cases.push_back({"adaptive_avg_pool2d", {2, 3, 8, 8}, {}, {1, 1}});
  cases.push_back({"adaptive_avg_pool2d", {2, 2, 5, 5}, {}, {7, 3}});
  cases.push_back({"adaptive_avg_pool2d", {3, 6, 6}, {}, {2, 2}});
  return cases;
}

Tensor run_pool(const PoolCase& c, const Tensor& x) {
  if (c.op == "max_pool2d") return max_pool2d(x, c.o);
  if (c.op == "avg_pool2d") return avg_pool2d(x, c.o);
  return adaptive_avg_pool2d(x, c.output_size);
}

json pool_options(const PoolCase& c) {
  if (c.op == "adaptive_avg_pool2d") return {{"output_size", c.output_size}};
  std::array<int64_t, 2> stride = c.o.stride;
  for (int i = 0; i < 2; ++i)
    if (stride[i] == 0) stride[i] = c.o.kernel_size[i];
  json j = {{"kernel_size", c.o.kernel_size}, {"stride", stride}, {"padding", c.o.padding},
                      {"ceil_mode", c.o.ceil_mode}};
  if (c.op == "avg_pool2d") j["count_include_pad"] = c.o.count_include_pad;
  return j;
}

TEST(ConvPool, PoolingMatchesFiniteDifferences) {
  uint64_t seed = 1;
  for (const PoolCase& c : pool_cases()) {
    SCOPED_TRACE(c.op + " " + pool_options(c).dump());
    expect_gradients_match([&](const Inputs& in) { return run_pool(c, in[0]); },
                           {seed % 2 ? noncontiguous_leaf(c.x, seed) : random_leaf(c.x, seed)});
    ++seed;
  }
}

TEST(ConvPool, PoolingMatchesTorch) {
  if (!testing::torch_available()) GTEST_SKIP() << "python3 with torch not found";
  std::vector<TorchRefCase> cases;
  uint64_t seed = 200;
  const auto add = [&](const PoolCase& c, DType dtype) {
    cases.push_back(conv_pool_case(c.op, pool_options(c), [c](const Inputs& in) { return run_pool(c, in[0]); },
                                   {uniform_tensor(c.x, dtype, seed++).requires_grad_()}));
  };
  for (DType dtype : {DType::f32, DType::f64})
    for (const PoolCase& c : pool_cases()) add(c, dtype);
  // The benchmark CNN's pools, at batch 2.
  for (const Shape& x : {Shape{2, 32, 28, 28}, Shape{2, 64, 12, 12}, Shape{2, 64, 11, 11}})
    add({"max_pool2d", x, {.kernel_size = {2, 2}}}, DType::f32);
  testing::expect_matches_torch_script("conv_pool.py", cases, testing::accumulation_tolerance);
}

TEST(ConvPool, MaxPoolPropagatesNaNAndPicksFirstMaximum) {
  Tensor x = tensor<float>({1, 3, 3, 1, NAN, 2, 0, 5}, {1, 1, 2, 4}).requires_grad_();
  const Tensor y = max_pool2d(x, {.kernel_size = {2, 2}});
  const std::vector<float> v = y.to_vector<float>();
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 5.0f);
  y.backward(ones_like(y));
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{0, 0, 0, 0, 1, 0, 0, 1}));
  Tensor ties = tensor<double>({2, 2, 2, 2}, {1, 1, 2, 2}).requires_grad_();
  max_pool2d(ties, {.kernel_size = {2, 2}}).sum().backward();
  EXPECT_EQ(ties.grad().to_vector<double>(), (std::vector<double>{1, 0, 0, 0}));
}

TEST(ConvPool, PoolingRejectsBadOptions) {
  const Tensor x = zeros({1, 1, 4, 4});
  EXPECT_THROW(max_pool2d(x, {.kernel_size = {2, 2}, .padding = {2, 2}}), Error);
  EXPECT_THROW(avg_pool2d(x, {.kernel_size = {5, 5}}), Error);
  EXPECT_THROW(max_pool2d(x, {.kernel_size = {0, 2}}), Error);
  EXPECT_THROW(adaptive_avg_pool2d(x, {0, 2}), Error);
  EXPECT_THROW(max_pool2d(zeros({4, 4}), {}), Error);
}

}  // namespace
}  // namespace tessera
