// Every backend entry, on every device the machine has, against the CPU (ggml's test-backend-ops idea): each
// elementwise op for every dtype it takes, with broadcast and non-contiguous operands; reductions, GEMM,
// optimizer steps, norms, the DDP scale-copy and random fills. The other devices are the guarded test device
// (the same kernels, so results must be bitwise equal and any host access faults) and, on a machine with a GPU,
// cuda:0, compared within a per-dtype tolerance.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>

#include "core/amp/grad_scaler.h"
#include "core/ops/elementwise.h"
#include "core/optim/optim.h"
#include "kernels/device_info.h"
#include "tests/support/compared_device.h"
#include "tests/support/test_device.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

using detail::BinaryOp;
using detail::OpScalars;
using detail::TernaryOp;
using detail::UnaryOp;

const Device kCpu{};

// The devices to compare with the CPU: the test device, and the first GPU when the machine has one.
std::vector<Device> other_devices() {
  std::vector<Device> devices = {testing::install_test_device()};
  if (kernels::cuda_device_count() > 0) devices.emplace_back(DeviceType::cuda, 0);
  return devices;
}

const std::vector<DType> kFloating = {DType::f32, DType::f64, DType::bf16, DType::f16};
const std::vector<DType> kNumeric = {DType::f32, DType::f64, DType::bf16, DType::f16,
                                     DType::i32, DType::i64, DType::u8};
const std::vector<DType> kAll = {DType::f32, DType::f64, DType::bf16, DType::f16,
                                 DType::i32, DType::i64, DType::u8, DType::boolean};

// Bitwise for the test device (same kernels), within a few ulp on a GPU (tests/support/compared_device.h).
void expect_matches(const Tensor& on_device, const Tensor& on_cpu, const std::string& what) {
  testing::expect_device_matches(on_device, on_cpu, what);
}

// Values in [low, high) of `dtype` (integers: whole numbers), shaped `shape`; `transposed` stores the last two
// dims swapped so the operand is not contiguous.
Tensor values(const Shape& shape, DType dtype, double low, double high, uint64_t seed, bool transposed = false) {
  Generator gen(seed);
  Shape stored = shape;
  if (transposed) std::swap(stored[stored.size() - 1], stored[stored.size() - 2]);
  Tensor t = empty(stored, {.dtype = DType::f64, .device = kCpu});
  uniform_(t, low, high, gen);
  if (transposed) t = t.transpose(-1, -2);
  return dtype == DType::boolean ? gt(t, 0.5 * (low + high)) : t.to(dtype);
}

struct Operand {
  Shape shape;
  bool transposed;
};
// out [3, 4, 5]: a full non-contiguous operand, a broadcast row, a broadcast column and a 0-d scalar.
const std::vector<std::vector<Operand>> kLayouts = {
    {{{3, 4, 5}, false}, {{3, 4, 5}, true}, {{3, 4, 5}, false}},
    {{{3, 4, 5}, true}, {{5}, false}, {{4, 1}, false}},
    {{{4, 1}, false}, {{3, 4, 5}, false}, {{}, false}},
};

// t on `device` with the same strides (to() makes a contiguous copy; GEMM takes another path for a transposed
// operand, so the layouts must match for a bitwise comparison).
Tensor on(const Tensor& t, Device device) {
  if (device.is_cpu()) return t;
  if (t.dim() >= 2 && !t.is_contiguous() && t.transpose(-1, -2).is_contiguous())
    return t.transpose(-1, -2).to(device).transpose(-1, -2);
  return t.to(device);
}

template <typename Run>
void compare_layouts(const std::vector<DType>& dtypes, const std::string& name, int arity, double low, double high,
                     Run run) {
  for (const Device device : other_devices()) {
    for (DType dtype : dtypes) {
      for (size_t l = 0; l < kLayouts.size(); ++l) {
        std::vector<Tensor> inputs;
        for (int k = 0; k < arity; ++k)
          inputs.push_back(values(kLayouts[l][k].shape, dtype, low, high, 11 * l + k, kLayouts[l][k].transposed));
        std::vector<Tensor> moved;
        for (const Tensor& t : inputs) moved.push_back(on(t, device));
        expect_matches(run(moved), run(inputs), name + " " + dtype_name(dtype) + " layout " + std::to_string(l) +
                                                    " on " + device.str());
      }
    }
  }
}

Tensor output_for(const std::vector<Tensor>& in, DType dtype) {
  Shape shape = in[0].shape();
  for (const Tensor& t : in) shape = broadcast_shapes(shape, t.shape());
  return empty(shape, {.dtype = dtype, .device = in[0].device()});
}

TEST(BackendConsistency, UnaryOps) {
  struct Case {
    UnaryOp op;
    const std::vector<DType>& dtypes;
    double low, high;
    OpScalars scalars;
  };
  const std::vector<Case> cases = {
      {UnaryOp::neg, kNumeric, -4, 4, {}},          {UnaryOp::abs, kNumeric, -4, 4, {}},
      {UnaryOp::relu, kNumeric, -4, 4, {}},         {UnaryOp::clamp, kNumeric, -4, 4, {.a = -1, .b = 2}},
      {UnaryOp::clamp, kNumeric, -4, 4, {.a = 0, .has_b = false}},
      {UnaryOp::pow_scalar, kNumeric, 0, 4, {.a = 3}}, {UnaryOp::pow_scalar, kFloating, 0.1, 4, {.a = 1.7}},
      {UnaryOp::exp, kFloating, -5, 5, {}},         {UnaryOp::log, kFloating, 0.01, 5, {}},
      {UnaryOp::sqrt, kFloating, 0, 5, {}},         {UnaryOp::rsqrt, kFloating, 0.01, 5, {}},
      {UnaryOp::sigmoid, kFloating, -8, 8, {}},     {UnaryOp::tanh, kFloating, -3, 3, {}},
      {UnaryOp::gelu, kFloating, -3, 3, {}},        {UnaryOp::gelu_tanh, kFloating, -3, 3, {}},
      {UnaryOp::leaky_relu, kFloating, -3, 3, {.a = 0.1}}, {UnaryOp::silu, kFloating, -8, 8, {}},
      {UnaryOp::logical_not, kAll, -2, 2, {}},
  };
  for (const Case& c : cases) {
    compare_layouts(c.dtypes, kernels::op_name(c.op), 1, c.low, c.high, [&](const std::vector<Tensor>& in) {
      Tensor out = output_for(in, c.op == UnaryOp::logical_not ? DType::boolean : in[0].dtype());
      detail::unary_into(c.op, out, in[0], c.scalars);
      return out;
    });
  }
}

TEST(BackendConsistency, CopyConvertsEveryPairOfDtypes) {
  for (DType to : kAll) {
    compare_layouts(kAll, std::string("copy to ") + dtype_name(to), 1, -300, 300, [&](const std::vector<Tensor>& in) {
      Tensor out = output_for(in, to);
      detail::unary_into(UnaryOp::copy, out, in[0]);
      return out;
    });
  }
}

// NaN, infinities and values past the range: C++ leaves these conversions undefined, x86 and a GPU differ, so the
// element math pins them down (NaN 0, saturation; u8 wraps through int64) and every device must agree.
TEST(BackendConsistency, FloatingToIntegerIsDefinedAtTheEdges) {
  const double inf = INFINITY;
  const std::vector<double> in = {NAN, inf, -inf, 3e9, -3e9, 1e20, -1e20, 2.7, -2.7, -1};
  constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max(), kMin64 = std::numeric_limits<int64_t>::min();
  constexpr int32_t kMax32 = std::numeric_limits<int32_t>::max(), kMin32 = std::numeric_limits<int32_t>::min();
  const std::vector<int64_t> to_i64 = {0, kMax64, kMin64, 3000000000, -3000000000, kMax64, kMin64, 2, -2, -1};
  const std::vector<int32_t> to_i32 = {0, kMax32, kMin32, kMax32, kMin32, kMax32, kMin32, 2, -2, -1};
  // 3e9 = 0xB2D05E00: its low byte is 0; int64's maximum ends in 0xFF, its minimum in 0x00.
  const std::vector<uint8_t> to_u8 = {0, 255, 0, 0, 0, 255, 0, 2, 254, 255};
  for (DType from : {DType::f64, DType::f32}) {
    const Tensor x = tensor<double>(in, {static_cast<int64_t>(in.size())}).to(from);
    EXPECT_EQ(x.to(DType::i64).to_vector<int64_t>(), to_i64) << dtype_name(from);
    EXPECT_EQ(x.to(DType::i32).to_vector<int32_t>(), to_i32) << dtype_name(from);
    EXPECT_EQ(x.to(DType::u8).to_vector<uint8_t>(), to_u8) << dtype_name(from);
  }
  EXPECT_EQ(full({1}, NAN, {.dtype = DType::i32}).to_vector<int32_t>(), std::vector<int32_t>{0});
  EXPECT_EQ(full({1}, -1e20, {.dtype = DType::i32}).to_vector<int32_t>(), std::vector<int32_t>{kMin32});
  for (DType from : {DType::bf16, DType::f16}) {  // f16 reaches 65504 at most, then infinity
    const Tensor x = tensor<double>(in, {static_cast<int64_t>(in.size())}).to(from);
    const std::vector<int32_t> got = x.to(DType::i32).to_vector<int32_t>();
    EXPECT_EQ(got[0], 0) << dtype_name(from);
    EXPECT_EQ(got[1], kMax32) << dtype_name(from);
    EXPECT_EQ(got[2], kMin32) << dtype_name(from);
    EXPECT_EQ(got[8], -2) << dtype_name(from);
  }
  for (const Device device : other_devices()) {
    for (DType from : kFloating) {
      const Tensor x = tensor<double>(in, {static_cast<int64_t>(in.size())}).to(from);
      for (DType to : {DType::i32, DType::i64, DType::u8})
        expect_matches(x.to(device).to(to), x.to(to),
                       std::string(dtype_name(from)) + " to " + dtype_name(to) + " on " + device.str());
    }
    for (double value : {static_cast<double>(NAN), -1e20})
      expect_matches(full({1}, value, {.dtype = DType::i32, .device = device}),
                     full({1}, value, {.dtype = DType::i32, .device = kCpu}), "full i32 on " + device.str());
  }
}

TEST(BackendConsistency, BinaryOps) {
  struct Case {
    BinaryOp op;
    const std::vector<DType>& dtypes;
    double low, high;
    OpScalars scalars;
    DType out = DType::f32;  // f32 here means "the operands' dtype"
  };
  const std::vector<Case> cases = {
      {BinaryOp::add, kNumeric, -4, 4, {.a = 1}},   {BinaryOp::sub, kNumeric, -4, 4, {.a = 2}},
      {BinaryOp::mul, kAll, -4, 4, {}},             {BinaryOp::div, kFloating, 0.5, 4, {}},
      {BinaryOp::pow, kNumeric, 0, 3, {}},          {BinaryOp::eq, kAll, -2, 2, {}, DType::boolean},
      {BinaryOp::maximum, kNumeric, -2, 2, {}},     {BinaryOp::minimum, kNumeric, -2, 2, {}},
      {BinaryOp::ne, kAll, -2, 2, {}, DType::boolean}, {BinaryOp::lt, kAll, -2, 2, {}, DType::boolean},
      {BinaryOp::le, kAll, -2, 2, {}, DType::boolean}, {BinaryOp::gt, kAll, -2, 2, {}, DType::boolean},
      {BinaryOp::ge, kAll, -2, 2, {}, DType::boolean},
      {BinaryOp::relu_backward, kFloating, -2, 2, {}}, {BinaryOp::sigmoid_backward, kFloating, 0, 1, {}},
      {BinaryOp::tanh_backward, kFloating, -1, 1, {}}, {BinaryOp::sqrt_backward, kFloating, 0.1, 2, {}},
      {BinaryOp::rsqrt_backward, kFloating, 0.1, 2, {}}, {BinaryOp::abs_backward, kFloating, -2, 2, {}},
      {BinaryOp::clamp_backward, kFloating, -2, 2, {.a = -1, .b = 1}},
      {BinaryOp::gelu_backward, kFloating, -3, 3, {}}, {BinaryOp::gelu_tanh_backward, kFloating, -3, 3, {}},
      {BinaryOp::leaky_relu_backward, kFloating, -2, 2, {.a = 0.2}}, {BinaryOp::silu_backward, kFloating, -8, 8, {}},
      {BinaryOp::pow_scalar_backward, kFloating, 0.1, 2, {.a = 2.5}},
  };
  for (const Case& c : cases) {
    compare_layouts(c.dtypes, kernels::op_name(c.op), 2, c.low, c.high, [&](const std::vector<Tensor>& in) {
      Tensor out = output_for(in, c.out == DType::boolean ? DType::boolean : in[0].dtype());
      detail::binary_into(c.op, out, in[0], in[1], c.scalars);
      return out;
    });
  }
}

TEST(BackendConsistency, SelectingOps) {
  compare_layouts(kAll, "masked_fill", 2, -2, 2, [](const std::vector<Tensor>& in) {
    Tensor out = output_for(in, in[0].dtype());
    detail::binary_into(BinaryOp::masked_fill, out, in[0], gt(in[1].to(DType::f32), 0.0), {.a = 1.5});
    return out;
  });
  compare_layouts(kFloating, "where_grad", 2, -2, 2, [](const std::vector<Tensor>& in) {
    Tensor out = output_for(in, in[1].dtype());
    detail::binary_into(BinaryOp::where_grad, out, gt(in[0], 0.0), in[1], {.a = 1});
    return out;
  });
  compare_layouts(kAll, "where", 3, -2, 2, [](const std::vector<Tensor>& in) {
    Tensor out = output_for(in, in[1].dtype());
    detail::ternary_into(TernaryOp::where, out, gt(in[0].to(DType::f32), 0.0), in[1], in[2]);
    return out;
  });
  for (TernaryOp op : {TernaryOp::pow_backward_base, TernaryOp::pow_backward_exponent}) {
    compare_layouts(kFloating, kernels::op_name(op), 3, 0.2, 2, [op](const std::vector<Tensor>& in) {
      Tensor out = output_for(in, in[0].dtype());
      detail::ternary_into(op, out, in[0], in[1], in[2]);
      return out;
    });
  }
}

TEST(BackendConsistency, FillAndArange) {
  for (const Device device : other_devices()) {
    for (DType dtype : kAll) {
      expect_matches(full({2, 3}, 2.5, {.dtype = dtype, .device = device}), full({2, 3}, 2.5, {.dtype = dtype, .device = kCpu}),
                     std::string("full ") + dtype_name(dtype));
      if (dtype != DType::boolean)
        expect_matches(arange(-2, 5, 0.5, {.dtype = dtype, .device = device}),
                       arange(-2, 5, 0.5, {.dtype = dtype, .device = kCpu}), std::string("arange ") + dtype_name(dtype));
    }
  }
}

TEST(BackendConsistency, Reductions) {
  for (const Device device : other_devices()) {
    for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::i64, DType::u8}) {
      const Tensor x = values({4, 6, 5}, dtype, -3, 9, 7, /*transposed=*/true);
      const Tensor xd = on(x, device);
      const std::string name = std::string(dtype_name(dtype)) + " on " + device.str();
      expect_matches(sum(xd), sum(x), "sum all " + name);
      expect_matches(sum(xd, {0}), sum(x, {0}), "sum dim 0 " + name);
      expect_matches(sum(xd, {1, 2}, true), sum(x, {1, 2}, true), "sum dims 1, 2 " + name);
      expect_matches(sum(xd.contiguous(), {0, 1}), sum(x.contiguous(), {0, 1}), "sum leading dims " + name);
      for (int64_t dim : {0, 1, 2}) {
        expect_matches(max(xd, dim).first, max(x, dim).first, "max values " + name);
        expect_matches(max(xd, dim).second, max(x, dim).second, "max indices " + name);
        expect_matches(argmin(xd, dim), argmin(x, dim), "argmin " + name);
      }
      expect_matches(max(xd), max(x), "max all " + name);
      if (is_floating(dtype)) {
        expect_matches(var(xd, {1}), var(x, {1}), "var " + name);
        expect_matches(mean(xd, {2}), mean(x, {2}), "mean " + name);
      }
    }
  }
}

// Shapes that take each of a GPU's launch plans (kernels/cuda/block_reduce.cuh): rows of up to 1,024 on lanes of a
// warp, longer rows on a block and, past 16,384, in chunks whose partials a second kernel adds in order; columns in
// tiles of up to 32, chunked too when long, with a partly filled last tile. i64 values are small integers, so the
// maxima tie and the index of the first one must win across lanes, tiles and chunks.
TEST(BackendConsistency, ReductionsOverEveryLaunchPlan) {
  const std::vector<std::pair<Shape, int64_t>> cases = {
      {{100, 3}, 1},    {{7, 33}, 1},     {{3, 2000}, 1},    {{2, 40000}, 1},
      {{3, 5000, 3}, 1}, {{1, 300, 40}, 1}, {{2, 20000, 37}, 1}};
  for (const Device device : other_devices()) {
    for (DType dtype : {DType::f32, DType::f64, DType::i64}) {
      for (const auto& [shape, dim] : cases) {
        const Tensor x = values(shape, dtype, -3, 9, 11);
        const Tensor xd = on(x, device);
        const std::string name = std::string(dtype_name(dtype)) + " " + shape_str(shape) + " on " + device.str();
        expect_matches(sum(xd, {dim}), sum(x, {dim}), "sum " + name);
        expect_matches(max(xd, dim).first, max(x, dim).first, "max values " + name);
        expect_matches(max(xd, dim).second, max(x, dim).second, "max indices " + name);
        expect_matches(argmin(xd, dim), argmin(x, dim), "argmin " + name);
        if (is_floating(dtype)) expect_matches(var(xd, {dim}), var(x, {dim}), "var " + name);
      }
    }
  }
}

TEST(BackendConsistency, MaxGradientsStayOnTheDevice) {
  for (const Device device : other_devices()) {
    Tensor x = tensor<double>({1, 5, 5, 2, NAN, 3}, {2, 3});
    for (bool all : {true, false}) {
      Tensor xc = x.clone().requires_grad_(), xd = x.to(device).requires_grad_();
      Tensor yc = all ? max(xc) : max(xc, 1).first, yd = all ? max(xd) : max(xd, 1).first;
      yc.backward(ones_like(yc));
      yd.backward(ones_like(yd));
      expect_matches(xd.grad(), xc.grad(), all ? "max all backward" : "max dim backward");
    }
  }
}

TEST(BackendConsistency, Gemm) {
  for (const Device device : other_devices()) {
    for (DType dtype : kFloating) {
      for (int64_t m : {1, 8, 33}) {  // 8: oneDNN's skinny path on the CPU; 33: OpenBLAS
        const Tensor a = values({m, 20}, dtype, -1, 1, 3), b = values({20, 17}, dtype, -1, 1, 4);
        const Tensor at = values({m, 20}, dtype, -1, 1, 5, true), bt = values({20, 17}, dtype, -1, 1, 6, true);
        const std::string name = std::string(dtype_name(dtype)) + " m " + std::to_string(m);
        expect_matches(mm(on(a, device), on(b, device)), mm(a, b), "mm " + name);
        expect_matches(mm(on(at, device), on(bt, device)), mm(at, bt), "mm transposed " + name);
        const Tensor bias = values({17}, dtype, -1, 1, 7);
        expect_matches(linear(on(a, device), on(b.t(), device), on(bias, device)), linear(a, b.t(), bias),
                       "linear " + name);
        expect_matches(linear_relu(on(a, device), on(b.t(), device), on(bias, device)),
                       linear_relu(a, b.t(), bias), "linear_relu (the GEMM epilogue) " + name);
        // A bias at an odd element offset: a GPU adds it by a separate kernel (cuBLASLt may read it 16 bytes wide).
        const Tensor wide_bias = values({18}, dtype, -1, 1, 8);
        expect_matches(linear_relu(on(a, device), on(b.t(), device), on(wide_bias, device).slice(0, 1, 18)),
                       linear_relu(a, b.t(), wide_bias.slice(0, 1, 18)), "linear_relu, misaligned bias " + name);
        // A NaN stays NaN through the ReLU, fused or not (PyTorch's relu keeps it; a max(x, 0) that dropped it
        // would hide an overflow from the loss scaler).
        Tensor with_nan = a.clone();
        with_nan.slice(0, 0, 1).slice(1, 0, 1).fill_(std::nan(""));
        expect_matches(linear_relu(on(with_nan, device), on(b.t(), device), on(bias, device)),
                       linear_relu(with_nan, b.t(), bias), "linear_relu of a NaN " + name);
      }
      // A dimension of 1 (a matrix times a vector, an outer product), which cuBLASLt's heuristic has been seen to
      // refuse (CudaBackend::gemm then runs its own kernel).
      for (const auto& [m, n, k] : std::vector<std::array<int64_t, 3>>{{5, 1, 20}, {1, 1, 20}, {5, 17, 1}}) {
        const std::string name = std::string(dtype_name(dtype)) + " " + std::to_string(m) + "x" + std::to_string(n) +
                                 "x" + std::to_string(k);
        const Tensor a = values({m, k}, dtype, -1, 1, 12), b = values({k, n}, dtype, -1, 1, 13, true);
        expect_matches(mm(on(a, device), on(b, device)), mm(a, b), "mm " + name);
      }
      // k == 0: the product is zero, and c is the bias (through the ReLU): a GPU's own kernel, not cuBLASLt.
      const Tensor empty_a = empty({3, 0}, {.dtype = dtype, .device = kCpu});
      const Tensor empty_w = empty({4, 0}, {.dtype = dtype, .device = kCpu});
      const Tensor bias = values({4}, dtype, -1, 1, 11);
      expect_matches(linear_relu(on(empty_a, device), on(empty_w, device), on(bias, device)),
                     linear_relu(empty_a, empty_w, bias), std::string("linear_relu, k = 0, ") + dtype_name(dtype));
    }
  }
}

// bmm is one batched GEMM (Backend::gemm_batched: cuBLASLt's strided batch on a GPU, a loop of gemm on the CPU):
// on the CPU it equals each product's own mm bit for bit, and on every device the CPU's bmm, values and gradients
// (two more bmm's), for: transposed operands; batch strides that are no multiple of 16 bytes (products at every
// alignment); a batch that starts at an odd element offset on the device; an interleaved batch (the batch dim not
// outermost in memory); an expanded operand (batch stride 0); k = 0, m = 0 and a dimension of 1; batches of 1 and 0.
TEST(BackendConsistency, BatchedGemm) {
  enum class Layout { plain, transposed, interleaved, expanded };
  struct Case {
    int64_t batch, m, k, n;
    Layout a, b;
  };
  const std::vector<Case> cases = {
      {4, 3, 5, 7, Layout::plain, Layout::plain},       {3, 5, 4, 3, Layout::transposed, Layout::plain},
      {5, 2, 3, 4, Layout::plain, Layout::transposed},  {2, 6, 7, 1, Layout::transposed, Layout::transposed},
      {3, 1, 5, 4, Layout::interleaved, Layout::plain}, {3, 4, 5, 2, Layout::expanded, Layout::interleaved},
      {3, 4, 6, 5, Layout::plain, Layout::expanded},    {3, 4, 0, 2, Layout::plain, Layout::plain},
      {3, 0, 3, 2, Layout::plain, Layout::plain},       {1, 3, 4, 5, Layout::transposed, Layout::plain},
      {0, 3, 4, 5, Layout::plain, Layout::plain}};
  for (DType dtype : kFloating) {
    for (size_t c = 0; c < cases.size(); ++c) {
      const Case& k = cases[c];
      const std::string name = std::string(dtype_name(dtype)) + " case " + std::to_string(c);
      // An operand of (batch, rows, cols) in `layout` on `device`, the same values on every device. Plain and
      // transposed ones are a slice of one more product, so the batch starts at an odd element offset.
      auto operand = [&](Layout layout, int64_t rows, int64_t cols, uint64_t seed, Device device) {
        auto filled = [&](const Shape& shape, bool transposed) {
          return shape_numel(shape) == 0 ? zeros(shape, {.dtype = dtype})
                                         : values(shape, dtype, -1, 1, seed, transposed);
        };
        switch (layout) {
          case Layout::interleaved:
            return on(filled({rows, k.batch, cols}, false), device).transpose(0, 1);
          case Layout::expanded:
            return on(filled({1, rows, cols}, false), device).expand({k.batch, rows, cols});
          default:
            return on(filled({k.batch + 1, rows, cols}, layout == Layout::transposed), device)
                .slice(0, 1, k.batch + 1);
        }
      };
      const Tensor a = operand(k.a, k.m, k.k, 20 + c, kCpu), b = operand(k.b, k.k, k.n, 40 + c, kCpu);
      const Tensor product = bmm(a, b);
      for (int64_t p = 0; p < k.batch; ++p)
        expect_close(product.select(0, p), mm(a.select(0, p), b.select(0, p)), 0.0, 0.0);
      for (const Device device : other_devices()) {
        const Tensor da = operand(k.a, k.m, k.k, 20 + c, device).detach().requires_grad_();
        const Tensor db = operand(k.b, k.k, k.n, 40 + c, device).detach().requires_grad_();
        const Tensor ca = a.detach().requires_grad_(), cb = b.detach().requires_grad_();
        const Tensor on_device = bmm(da, db), on_cpu = bmm(ca, cb);
        expect_matches(on_device, on_cpu, "bmm " + name);
        const Tensor g = shape_numel(on_cpu.shape()) == 0 ? zeros(on_cpu.shape(), {.dtype = dtype})
                                                          : values(on_cpu.shape(), dtype, -1, 1, 60 + c);
        on_device.backward(on(g, device));
        on_cpu.backward(g);
        expect_matches(da.grad(), ca.grad(), "bmm gradient of a " + name);
        expect_matches(db.grad(), cb.grad(), "bmm gradient of b " + name);
      }
    }
  }
}

// counted_on_device: the device's optimizer runs step_unless (its step counts on the device, OptimizerSlot::step),
// its first step skipped by the flag, while the CPU's plain steps leave that step out: the same parameters and counts.
TEST(BackendConsistency, OptimizerStepsNormsAndScaleCopy) {
  for (const Device device : other_devices()) {
    for (DType dtype : {DType::f32, DType::f64}) {
      for (int kind = 0; kind < 6; ++kind) {
        const bool counted_on_device = kind >= 3;
        std::vector<Tensor> on_cpu{values({70000}, dtype, -1, 1, 1), values({3, 5}, dtype, -1, 1, 2)};
        std::vector<Tensor> on_dev{on(on_cpu[0], device), on(on_cpu[1], device)};
        auto make = [&](std::vector<Tensor> params) -> std::unique_ptr<optim::Optimizer> {
          if (kind == 0)
            return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01,
                                                                          .nesterov = true});
          if (kind == 3)  // dampening: the first momentum step (counted on the device) differs from the others
            return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.5,
                                                                          .weight_decay = 0.01});
          if (kind % 3 == 1)
            return std::make_unique<optim::AdamW>(params, optim::AdamWOptions{.lr = 0.01, .amsgrad = true});
          return std::make_unique<optim::Adam>(params, optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
        };
        auto opt_cpu = make(on_cpu), opt_dev = make(on_dev);
        for (int step = 0; step < 4; ++step) {
          for (size_t i = 0; i < 2; ++i) {
            const Tensor g = values(on_cpu[i].shape(), dtype, -1, 1, 100 + step * 2 + i);
            on_cpu[i].set_grad(g);
            on_dev[i].set_grad(on(g, device));
          }
          const bool skip = counted_on_device && step == 0;
          if (!skip) opt_cpu->step();
          if (counted_on_device) opt_dev->step_unless(full({}, skip ? 1.0 : 0.0, {.device = device}));
          else opt_dev->step();
        }
        for (size_t i = 0; i < 2; ++i) {
          expect_matches(on_dev[i], on_cpu[i], opt_cpu->name() + " parameter");
          EXPECT_EQ(opt_dev->step_count(i), opt_cpu->step_count(i)) << opt_cpu->name();
        }
        // Bitwise where the device runs the CPU's kernels (the test device); a GPU adds the same f64 terms in
        // another order (and its pow may differ by an ulp), so there within f64 rounding; the max is exact.
        for (double p : {1.0, 2.0, 3.0, static_cast<double>(INFINITY)}) {
          const double dev = optim::grad_norm(on_dev, p), cpu = optim::grad_norm(on_cpu, p);
          if (!testing::runs_cpu_kernels(device) && std::isfinite(p)) {
            EXPECT_NEAR(dev, cpu, 1e-12 * (1 + std::abs(cpu))) << "norm " << p;
          } else {
            EXPECT_EQ(dev, cpu) << "norm " << p;
          }
        }
      }
    }
  }
}

// GradScaler's entries: unscale over f32 and f64 gradients (one long enough for many GPU blocks) with and without
// an inf, the flag it sets, the optimizer step that reads the flag, and the scale update, every value in device
// memory. The arithmetic is a product by a power of two, so every device is bitwise.
TEST(BackendConsistency, LossScalingUnscalesSkipsAndUpdatesAlike) {
  for (const Device device : other_devices()) {
    for (DType dtype : {DType::f32, DType::f64}) {
      for (const bool poison : {false, true}) {
        std::vector<Tensor> on_cpu{values({70000}, dtype, -1, 1, 1), values({3, 5}, dtype, -1, 1, 2)};
        std::vector<Tensor> on_dev{on(on_cpu[0], device), on(on_cpu[1], device)};
        optim::Adam opt_cpu(on_cpu, {.lr = 0.01}), opt_dev(on_dev, {.lr = 0.01});
        amp::GradScaler scaler_cpu({.init_scale = 512.0, .growth_interval = 1});
        amp::GradScaler scaler_dev({.init_scale = 512.0, .growth_interval = 1});
        for (size_t i = 0; i < 2; ++i) {
          Tensor g = values(on_cpu[i].shape(), dtype, -100, 100, 10 + i);
          if (poison && i == 0) g.select(0, 65537).fill_(-INFINITY);
          on_cpu[i].set_grad(g);
          on_dev[i].set_grad(on(g, device));
        }
        (void)scaler_cpu.scale(on_cpu[0].sum());  // places the scaler's state on each device
        (void)scaler_dev.scale(on_dev[0].sum());
        scaler_cpu.step(opt_cpu);
        scaler_dev.step(opt_dev);
        EXPECT_EQ(scaler_dev.found_inf(), poison) << device.str();
        EXPECT_EQ(scaler_cpu.found_inf(), poison);
        scaler_cpu.update();
        scaler_dev.update();
        for (size_t i = 0; i < 2; ++i) {
          expect_matches(on_dev[i].grad(), on_cpu[i].grad(), "unscaled gradient");
          expect_matches(on_dev[i], on_cpu[i], "parameter after the step");
        }
        EXPECT_EQ(scaler_dev.get_scale(), poison ? 256.0 : 1024.0) << device.str();
        EXPECT_EQ(opt_dev.step_count(1), poison ? 0 : 1) << device.str();
      }
    }
  }
}

TEST(BackendConsistency, RandomFillsGiveTheSameNumbersOnEveryDevice) {
  for (const Device device : other_devices()) {
    for (DType dtype : {DType::f32, DType::f64, DType::bf16}) {
      Generator a(99), b(99);
      expect_matches(rand({1000}, b, {.dtype = dtype, .device = device}), rand({1000}, a, {.dtype = dtype, .device = kCpu}),
                     "rand");
      expect_matches(randn({999}, b, {.dtype = dtype, .device = device}), randn({999}, a, {.dtype = dtype, .device = kCpu}),
                     "randn");
      expect_matches(dropout(ones({513}, {.dtype = dtype, .device = device}), 0.3, true, b),
                     dropout(ones({513}, {.dtype = dtype, .device = kCpu}), 0.3, true, a), "dropout");
      EXPECT_EQ(a.offset(), b.offset());
    }
    Generator a(5), b(5);
    expect_matches(randint(-3, 1000, {777}, b, {.dtype = DType::i64, .device = device}),
                   randint(-3, 1000, {777}, a, {.dtype = DType::i64, .device = kCpu}), "randint");
  }
}

TEST(BackendConsistency, HostDrawsContinueTheSameStream) {
  Generator host(7), fill(7);
  const std::vector<float> drawn = {host.uniform_f(), host.uniform_f(), host.uniform_f()};
  EXPECT_EQ(rand({3}, fill, {.device = kCpu}).to_vector<float>(), drawn);
  EXPECT_EQ(host.get_state(), fill.get_state());
  Generator restored(0);
  restored.set_state(host.get_state());
  EXPECT_EQ(restored.next_u64(), host.next_u64());
}

}  // namespace
}  // namespace tessera
