// Indexing, embedding, concatenation, conv2d and pooling on the guarded test device and on cuda:0: each op,
// forward and backward, must give the CPU's values and gradients, bit for bit on the test device (it runs the CPU's
// loops, so any difference is a bug) and within a few ulp on a GPU, with non-contiguous inputs and every dtype the op takes. A hidden host read of device
// memory in an op would fault here. Backward is driven by an explicit gradient, so no reduction is involved.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "tests/core/index_loss_ref.h"
#include "tests/support/compared_device.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

const Device kCpu{};


// The device of the running test: the test device or cuda:0 (the suite's parameter).
Device test_device() { return testing::current_compared_device(); }
class IndexConvOnDevice : public testing::ComparedDeviceTest {};

// One tensor on the CPU and its copy on the test device, both leaves (requiring grad when floating and `grad`).
struct Pair {
  Tensor cpu, dev;
};

// Random values of `shape` in `dtype`; non-contiguous (last two dims stored swapped) on both devices if asked.
Pair pair(const Shape& shape, uint64_t seed, DType dtype = DType::f32, bool noncontiguous = false, bool grad = true) {
  Shape stored = shape;
  if (noncontiguous) std::swap(stored[stored.size() - 2], stored[stored.size() - 1]);
  Tensor base = random_leaf(stored, seed, -3.0, 3.0).detach();
  base = is_floating(dtype) ? base.to(dtype) : ((base + 3.0) * 10.0).to(dtype);  // integers in [0, 60)
  Pair p{base, base.to(test_device())};
  if (noncontiguous) {
    p.cpu = p.cpu.transpose(-2, -1);
    p.dev = p.dev.transpose(-2, -1);
    EXPECT_FALSE(p.dev.is_contiguous());
  }
  p.cpu = p.cpu.detach();
  p.dev = p.dev.detach();
  if (grad && is_floating(dtype)) {
    p.cpu.requires_grad_();
    p.dev.requires_grad_();
  }
  return p;
}

Pair index_pair(const std::vector<int64_t>& values, const Shape& shape = {}, DType dtype = DType::i64) {
  const Tensor cpu = idx(values, shape).to(dtype);
  return {cpu, cpu.to(test_device())};
}


using Op = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs `op` on the CPU inputs and on their device copies; compares outputs and, for floating outputs, the
// gradients of every input that requires grad under one random upstream gradient.
void expect_device_matches_cpu(const Op& op, std::initializer_list<Pair> inputs, const std::string& what) {
  std::vector<Tensor> cpu_in, dev_in;
  for (const Pair& p : inputs) {
    cpu_in.push_back(p.cpu);
    dev_in.push_back(p.dev);
  }
  const Tensor y_cpu = op(cpu_in), y_dev = op(dev_in);
  testing::expect_device_matches(y_dev, y_cpu, what + " forward");
  if (!y_cpu.requires_grad()) return;
  const Tensor g = random_leaf(y_cpu.shape(), 99).detach().to(y_cpu.dtype());
  y_cpu.backward(g);
  y_dev.backward(g.to(test_device()));
  for (size_t i = 0; i < cpu_in.size(); ++i) {
    if (!cpu_in[i].defined() || !cpu_in[i].requires_grad()) continue;
    testing::expect_device_matches(dev_in[i].grad(), cpu_in[i].grad(),
                                   what + " gradient of input " + std::to_string(i));
  }
}

const std::vector<DType> kFloating = {DType::f32, DType::f64, DType::bf16, DType::f16};

TEST_P(IndexConvOnDevice, IndexSelectAndEmbedding) {
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i64, DType::i32, DType::u8}) {
    for (int64_t dim : {0, 1, 2}) {
      for (bool nc : {false, true}) {
        const Pair index = index_pair({3, 0, 3, 1}, {}, dim == 1 ? DType::i32 : DType::i64);
        expect_device_matches_cpu([&](const auto& in) { return index_select(in[0], dim, in[1]); },
                                  {pair({4, 5, 4}, 1, dtype, nc), index},
                                  "index_select " + std::string(dtype_name(dtype)) + " dim " + std::to_string(dim));
      }
    }
  }
  for (DType dtype : kFloating) {
    const Pair ids = index_pair({2, 0, 2, 1, 4, 4}, {2, 3});
    for (std::optional<int64_t> padding : {std::optional<int64_t>(), std::optional<int64_t>(2)})
      expect_device_matches_cpu([&](const auto& in) { return embedding(in[0], in[1], padding); },
                                {pair({5, 3}, 2, dtype, true), ids}, "embedding " + std::string(dtype_name(dtype)));
  }
}

TEST_P(IndexConvOnDevice, GatherAndScatterAdd) {
  const Pair index = index_pair({0, 2, 2, 1, 1, 0, 3, 3, 0, 1, 2, 3}, {3, 2, 2});
  // u8: the GPU accumulates a byte with a 32-bit compare-and-swap on the word around it.
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i64, DType::i32, DType::u8}) {
    const std::string name = dtype_name(dtype);
    expect_device_matches_cpu([&](const auto& in) { return gather(in[0], 2, in[1]); },
                              {pair({3, 2, 4}, 3, dtype, true), index}, "gather " + name);
    expect_device_matches_cpu([&](const auto& in) { return gather(in[0], 0, in[1]); },
                              {pair({3, 4}, 4, dtype, true), index_pair({2, 0, 1, 1, 0, 2}, {2, 3})},
                              "gather dim 0 " + name);
    // src larger than the index, repeated targets: both gradients.
    expect_device_matches_cpu([&](const auto& in) { return scatter_add(in[0], 2, in[1], in[2]); },
                              {pair({3, 2, 4}, 5, dtype, true), index, pair({3, 3, 2}, 6, dtype, true)},
                              "scatter_add " + name);
  }
  expect_device_matches_cpu([&](const auto& in) { return gather(in[0], 0, in[1]); },
                            {pair({}, 7, DType::f64), index_pair({0}, {})}, "gather of a 0-d tensor");
}

TEST_P(IndexConvOnDevice, OneHot) {
  const Pair ids = index_pair({2, 0, 1, 2}, {2, 2}, DType::i32);
  testing::expect_device_matches(one_hot(ids.dev, 3), one_hot(ids.cpu, 3), "one_hot");
}

// Inferring the class count reads max(indices) back (one scalar, through max and item), so it needs the
// reductions on the device too.
TEST_P(IndexConvOnDevice, OneHotInfersClasses) {
  const Pair ids = index_pair({2, 0, 1, 4}, {2, 2});
  testing::expect_device_matches(one_hot(ids.dev, -1), one_hot(ids.cpu, -1), "one_hot, inferred classes");
}

TEST_P(IndexConvOnDevice, CatAndStack) {
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::i64}) {
    for (int64_t dim : {0, 1}) {
      expect_device_matches_cpu([&](const auto& in) { return cat({in[0], in[1], in[2]}, dim); },
                                {pair({3, 4}, 8, dtype, true), pair({3, 4}, 9, dtype), pair({3, 4}, 10, dtype, true)},
                                "cat " + std::string(dtype_name(dtype)));
      expect_device_matches_cpu([&](const auto& in) { return stack({in[0], in[1]}, dim); },
                                {pair({2, 3}, 11, dtype, true), pair({2, 3}, 12, dtype)}, "stack");
    }
  }
  const Tensor legacy_empty = empty({0}, {.dtype = DType::f32, .device = test_device()});
  expect_device_matches_cpu([&](const auto& in) { return cat({in[0], in[1]}, 1); },
                            {pair({0}, 13, DType::f32), pair({2, 3}, 14, DType::f32, true)}, "cat with legacy empty");
  const Tensor y = cat({legacy_empty, ones({2}, {.dtype = DType::f32, .device = test_device()})}, 0);
  EXPECT_EQ(y.device(), test_device());
}

struct ConvCase {
  Shape x, w;
  bool bias;
  Conv2dOptions o;
};

TEST_P(IndexConvOnDevice, Conv2d) {
  const std::vector<ConvCase> cases = {
      {{2, 3, 7, 6}, {4, 3, 3, 3}, true, {}},
      {{2, 3, 9, 8}, {5, 3, 3, 2}, true, {.stride = {2, 1}, .padding = {1, 0}}},
      {{1, 4, 10, 10}, {6, 2, 3, 3}, false, {.padding = {2, 2}, .dilation = {2, 2}, .groups = 2}},
      {{2, 16, 8, 8}, {16, 16, 3, 3}, true, {.padding = {1, 1}}},          // oneDNN blocked layout
      {{3, 8, 6, 6}, {4, 8, 1, 1}, true, {.stride = {2, 2}}},              // im2col (oneDNN rejects)
      {{2, 8, 5, 5}, {8, 1, 3, 3}, true, {.padding = {1, 1}, .groups = 8}},  // depthwise
      {{3, 5, 5}, {2, 3, 3, 3}, true, {.padding = {1, 0}}},                // unbatched
  };
  for (DType dtype : kFloating) {
    for (size_t c = 0; c < cases.size(); ++c) {
      const ConvCase& k = cases[c];
      // Without a bias, the third input is an undefined tensor.
      const Pair b = k.bias ? pair({k.w[0]}, 60 + c, dtype) : Pair{};
      expect_device_matches_cpu([&](const auto& t) { return conv2d(t[0], t[1], t[2], k.o); },
                                {pair(k.x, 20 + c, dtype, c % 2 == 1), pair(k.w, 40 + c, dtype, c == 0), b},
                                "conv2d case " + std::to_string(c) + " " + dtype_name(dtype));
    }
    // A batch slice at an odd element offset, a contiguous view that conv2d takes as it is: a pointer cuDNN may
    // refuse for an algorithm, which then gives way to the next one (kernels/cuda/conv_2d.cu).
    expect_device_matches_cpu(
        [](const auto& t) { return conv2d(t[0].slice(0, 1, 3), t[1], t[2], {.padding = {1, 1}}); },
        {pair({3, 3, 5, 5}, 80, dtype), pair({4, 3, 3, 3}, 81, dtype), pair({4}, 82, dtype)},
        std::string("conv2d of a batch slice at an odd offset ") + dtype_name(dtype));
  }
}

TEST_P(IndexConvOnDevice, Pooling) {
  const std::vector<Pool2dOptions> fixed = {
      {},                                                            // 2x2 stride 2: the fast path
      {.kernel_size = {3, 2}, .stride = {2, 1}, .padding = {1, 1}},
      {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true, .count_include_pad = false},
  };
  for (DType dtype : kFloating) {
    const std::string name = dtype_name(dtype);
    for (size_t c = 0; c < fixed.size(); ++c) {
      const Pair x = pair({2, 3, 7, 8}, 70 + c, dtype, c != 1);
      expect_device_matches_cpu([&](const auto& in) { return max_pool2d(in[0], fixed[c]); }, {x},
                                "max_pool2d case " + std::to_string(c) + " " + name);
      expect_device_matches_cpu([&](const auto& in) { return avg_pool2d(in[0], fixed[c]); },
                                {pair({2, 3, 7, 8}, 80 + c, dtype, c != 1)},
                                "avg_pool2d case " + std::to_string(c) + " " + name);
    }
    expect_device_matches_cpu([&](const auto& in) { return adaptive_avg_pool2d(in[0], {3, 5}); },
                              {pair({2, 3, 7, 8}, 90, dtype, true)}, "adaptive_avg_pool2d " + name);
    expect_device_matches_cpu([&](const auto& in) { return max_pool2d(in[0], {}); }, {pair({3, 6, 4}, 91, dtype)},
                              "max_pool2d unbatched " + name);
  }
}

// The bits of a bf16 or f16 tensor's elements, on the host.
std::vector<uint64_t> bits_of(const Tensor& t) {
  std::vector<uint64_t> bits;
  for (double v : t.to(kCpu).to(DType::f64).to_vector<double>()) {  // exact for bf16 and f16
    bits.push_back(0);
    std::memcpy(&bits.back(), &v, sizeof v);
  }
  return bits;
}

// A GPU pools bf16 and f16 as they are (Backend::conv_pool_takes), in f32 arithmetic rounded once: bitwise what
// core's f32 route gives on the same device, values and gradients, for overlapping windows (a gradient summed over
// several outputs), padding, and a NaN that must win its windows. Meaningful under cuda_on_cpu and on cuda:0, and
// for bf16 on CPUs with bf16 units (there the CPU's kernels take bf16 too: the test device's and the CPU's own).
TEST_P(IndexConvOnDevice, HalfPrecisionPoolingIsTheF32RouteBitwise) {
  const std::vector<std::function<Tensor(const Tensor&)>> pools = {
      [](const Tensor& x) { return max_pool2d(x, {.kernel_size = {3, 3}, .stride = {1, 2}, .padding = {1, 1}}); },
      // The CNN's 2x2 pool (a fast path of its own; 7 rows: the last one in no window), on 8 columns (one SIMD group
      // of 4 windows) and on 6 (3 windows: the scalar loop).
      [](const Tensor& x) { return max_pool2d(x, {.kernel_size = {2, 2}, .stride = {2, 2}}); },
      [](const Tensor& x) { return max_pool2d(x.slice(3, 0, 6), {.kernel_size = {2, 2}, .stride = {2, 2}}); },
      [](const Tensor& x) { return avg_pool2d(x, {.kernel_size = {3, 2}, .stride = {1, 1}, .padding = {1, 1}}); },
      [](const Tensor& x) {
        return avg_pool2d(x, {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .count_include_pad = false});
      },
      [](const Tensor& x) { return adaptive_avg_pool2d(x, {3, 5}); },
  };
  for (DType dtype : {DType::bf16, DType::f16}) {
    for (size_t p = 0; p < pools.size(); ++p) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " pooling " + std::to_string(p));
      std::vector<float> values = random_leaf({2, 3, 7, 8}, 300 + p, -3.0, 3.0).to_vector<float>();
      values[1 * 56 + 2 * 8 + 3] = std::nanf("");
      const Tensor x = tensor(values, {2, 3, 7, 8}).to(dtype).to(test_device()).requires_grad_();
      const Tensor x32 = x.detach().to(DType::f32).requires_grad_();
      const Tensor native = pools[p](x), routed = pools[p](x32).to(dtype);
      const Tensor g = random_leaf(native.shape(), 400 + p).detach().to(dtype).to(test_device());
      native.backward(g);
      routed.backward(g);
      EXPECT_EQ(bits_of(native), bits_of(routed)) << "values";
      const std::vector<float> pooled = native.to(kCpu).to(DType::f32).to_vector<float>();
      EXPECT_TRUE(std::any_of(pooled.begin(), pooled.end(), [](float v) { return std::isnan(v); }))
          << "the NaN won no window";
      EXPECT_EQ(bits_of(x.grad()), bits_of(x32.grad().to(dtype))) << "gradients";
    }
  }
}

TEST_P(IndexConvOnDevice, BadIndicesAreErrorsNamingOpIndexAndSize) {
  const Tensor x = zeros({2, 3}, {.dtype = DType::f32, .device = test_device()});
  const auto on_device = [](const std::vector<int64_t>& v, const Shape& shape = {}) {
    return idx(v, shape).to(test_device());
  };
  expect_error([&] { index_select(x, 1, on_device({0, 3})).to(kCpu); },
               {"index_select", "index 3 (at position 1)", "dimension 1 with size 3"});
  expect_error([&] { index_select(x, 0, on_device({-1})).to(kCpu); }, {"index_select", "index -1", "size 2"});
  expect_error([&] { embedding(x, on_device({1, 2})).to(kCpu); }, {"embedding", "index 2", "2 embeddings"});
  expect_error([&] { gather(x, 0, on_device({0, 5}, {1, 2})).to(kCpu); }, {"gather", "index 5", "dimension 0 with size 2"});
  expect_error([&] { scatter_add(x, 1, on_device({7}, {1, 1}), ones({1, 1}, {.device = test_device()})).to(kCpu); },
               {"scatter_add", "index 7", "dimension 1 with size 3"});
  expect_error([&] { one_hot(on_device({0, 3}), 3).to(kCpu); }, {"one_hot", "class 3", "3 classes"});
  // The index must be on the input's device.
  expect_error([&] { index_select(x, 0, idx({0})); }, {"index_select", "cpu", test_device().str()});
  expect_error([&] { cat({x, zeros({2, 3})}, 0); }, {"cat", "cpu", test_device().str()});
  expect_error([&] { conv2d(zeros({1, 1, 3, 3}, {.device = test_device()}), ones({1, 1, 2, 2})); },
               {"conv2d", "cpu", test_device().str()});
}

INSTANTIATE_TEST_SUITE_P(IndexConvOnDevice, IndexConvOnDevice, testing::kComparedDevices,
                         testing::device_param_name);

}  // namespace
}  // namespace tessera
