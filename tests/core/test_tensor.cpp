#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/core.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace tessera {
namespace {

using testing::expect_close;
using testing::expect_error;

TEST(Tensor, CreationAndMetadata) {
  Tensor t = zeros({2, 3});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(ones({4}, {.dtype = DType::i64}).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(arange(5).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1, 2, 0.25, {.dtype = DType::f64}).to_vector<double>(), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  // A range of no finite length is an error, as PyTorch's (casting its count to int64 was undefined: empty on x86).
  for (const double end : {std::numeric_limits<double>::infinity(), std::nan(""), 1e300})
    expect_error([&] { arange(0, end); }, "arange: unsupported range");
  EXPECT_EQ(full({2}, 3.5).to_vector<float>(), (std::vector<float>{3.5f, 3.5f}));
}

TEST(Tensor, HandleSemanticsShareStorage) {
  Tensor a = zeros({3});
  Tensor b = a;
  b.fill_(2.0);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{2, 2, 2}));
  Tensor c = a.clone();
  c.fill_(1.0);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{2, 2, 2}));
}

TEST(Tensor, DtypeConversionRoundsHalfTypes) {
  Tensor x = tensor<float>({1.0f, 0.1f, 65504.0f, -3.140625f, 1e-8f});
  EXPECT_EQ(x.to(DType::bf16).to(DType::f32).to_vector<float>()[1], 0.10009765625f);
  EXPECT_EQ(x.to(DType::f16).to(DType::f32).to_vector<float>()[1], 0.0999755859375f);
  EXPECT_EQ(x.to(DType::f16).to(DType::f32).to_vector<float>()[2], 65504.0f);
  EXPECT_EQ(x.to(DType::f16).to(DType::f32).to_vector<float>()[3], -3.140625f);
  EXPECT_EQ(x.to(DType::i32).to_vector<int32_t>(), (std::vector<int32_t>{1, 0, 65504, -3, 0}));
  EXPECT_EQ(x.to(DType::boolean).to_vector<bool>(), (std::vector<bool>{true, true, true, true, true}));
}

TEST(Tensor, ViewsShareStorageAndFollowStrides) {
  Tensor x = arange(0, 12, 1, {.dtype = DType::f32}).reshape({3, 4});
  Tensor t = x.t();
  EXPECT_EQ(t.shape(), (Shape{4, 3}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.contiguous().to_vector<float>(), (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  EXPECT_EQ(x.select(1, 2).to_vector<float>(), (std::vector<float>{2, 6, 10}));
  EXPECT_EQ(x.slice(1, 1, 4, 2).to_vector<float>(), (std::vector<float>{1, 3, 5, 7, 9, 11}));
  EXPECT_EQ(x.narrow(0, 1, 1).to_vector<float>(), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(x.unsqueeze(0).shape(), (Shape{1, 3, 4}));
  EXPECT_EQ(x.unsqueeze(0).squeeze().shape(), (Shape{3, 4}));
  EXPECT_EQ(x.reshape({-1}).shape(), (Shape{12}));
  EXPECT_EQ(tensor<float>({1, 2}).reshape({2, 1}).expand({2, 3}).to_vector<float>(),
            (std::vector<float>{1, 1, 1, 2, 2, 2}));
  EXPECT_THROW(t.view({12}), Error);  // not viewable: needs reshape
  EXPECT_EQ(t.reshape({12}).to_vector<float>()[1], 4.0f);
  x.select(0, 0).fill_(-1.0);
  EXPECT_EQ(x.to_vector<float>()[3], -1.0f);
}

TEST(Tensor, BroadcastingArithmetic) {
  Tensor a = tensor<float>({1, 2, 3}, {3, 1});
  Tensor b = tensor<float>({10, 20}, {1, 2});
  EXPECT_EQ((a + b).to_vector<float>(), (std::vector<float>{11, 21, 12, 22, 13, 23}));
  EXPECT_EQ((a * b).shape(), (Shape{3, 2}));
  EXPECT_EQ((b / 2.0).to_vector<float>(), (std::vector<float>{5, 10}));
  EXPECT_EQ((1.0 - a).to_vector<float>(), (std::vector<float>{0, -1, -2}));
  EXPECT_THROW(tensor<float>({1, 2, 3}) + tensor<float>({1, 2}), Error);
  // Type promotion: i64 + f32 -> f32; integer division is true division.
  EXPECT_EQ((arange(3) + tensor<float>({0.5f, 0.5f, 0.5f})).dtype(), DType::f32);
  EXPECT_EQ(div(arange(3), full({3}, 2.0, {.dtype = DType::i64})).to_vector<float>(),
            (std::vector<float>{0, 0.5f, 1}));
}

TEST(Tensor, SumAndMean) {
  Tensor x = arange(0, 24, 1, {.dtype = DType::f64}).reshape({2, 3, 4});
  EXPECT_EQ(x.sum().item<double>(), 276.0);
  EXPECT_EQ(x.sum({0}).shape(), (Shape{3, 4}));
  EXPECT_EQ(x.sum({0}).to_vector<double>()[0], 12.0);
  EXPECT_EQ(x.sum({1}, true).shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(x.sum({1}, true).to_vector<double>()[0], 12.0);
  EXPECT_EQ(x.sum({-1}).to_vector<double>()[0], 6.0);
  EXPECT_EQ(x.sum({0, 2}).to_vector<double>(), (std::vector<double>{60, 92, 124}));
  EXPECT_EQ(x.mean({0, 1, 2}).item<double>(), 11.5);
  EXPECT_EQ(arange(4).sum().dtype(), DType::i64);
}

TEST(Tensor, MatmulShapes) {
  Tensor a = arange(0, 6, 1, {.dtype = DType::f32}).reshape({2, 3});
  Tensor b = arange(0, 12, 1, {.dtype = DType::f32}).reshape({3, 4});
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 4}));
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{20, 23, 26, 29, 56, 68, 80, 92}));
  EXPECT_EQ(matmul(a, b.select(1, 0)).to_vector<float>(), (std::vector<float>{20, 56}));
  EXPECT_EQ(matmul(a.t().t(), b).to_vector<float>(), c.to_vector<float>());
  Tensor batched = matmul(ones({5, 2, 3}), b);
  EXPECT_EQ(batched.shape(), (Shape{5, 2, 4}));
  EXPECT_EQ(matmul(ones({5, 1, 2, 3}), ones({4, 3, 2})).shape(), (Shape{5, 4, 2, 2}));
  EXPECT_THROW(mm(a, a), Error);
}

TEST(Tensor, HalfTypesStoreAndComputeInF32) {
  Tensor a = tensor<float>({1.5f, 2.25f}).to(DType::bf16);
  Tensor sq = a * a;
  EXPECT_EQ(sq.dtype(), DType::bf16);
  EXPECT_EQ(sq.to_vector<float>(), (std::vector<float>{2.25f, 5.0625f}));
  Tensor h = ones({2, 3}, {.dtype = DType::f16});
  Tensor p = matmul(h, ones({3, 2}, {.dtype = DType::f16}));
  EXPECT_EQ(p.dtype(), DType::f16);
  EXPECT_EQ(p.to_vector<float>(), (std::vector<float>{3, 3, 3, 3}));
  EXPECT_EQ((a + h.select(0, 0).narrow(0, 0, 2)).dtype(), DType::f32);  // bf16 + f16 promotes to f32
}

TEST(Tensor, SeededRandomNumbers) {
  Generator g1(7), g2(7);
  EXPECT_EQ(randn({100}, g1).to_vector<float>(), randn({100}, g2).to_vector<float>());
  Tensor n = randn({20000}, g1, {.dtype = DType::f64});
  EXPECT_NEAR(n.mean().item<double>(), 0.0, 0.03);
  EXPECT_NEAR(((n - n.mean()) * (n - n.mean())).mean().item<double>(), 1.0, 0.05);
  Tensor u = rand({20000}, g1, {.dtype = DType::f64});
  EXPECT_NEAR(u.mean().item<double>(), 0.5, 0.01);
  std::vector<int64_t> ints = randint(3, 7, {1000}, g1).to_vector<int64_t>();
  EXPECT_EQ(*std::min_element(ints.begin(), ints.end()), 3);
  EXPECT_EQ(*std::max_element(ints.begin(), ints.end()), 6);
  // The generator's state round-trips: a saved state replays the same stream.
  const std::string state = g1.get_state();
  const std::vector<float> first = randn({10}, g1).to_vector<float>();
  g2.set_state(state);
  EXPECT_EQ(randn({10}, g2).to_vector<float>(), first);
  // A state of another generator (a checkpoint from before Philox) or a cut one is refused, the stream unchanged:
  // resuming on another random stream would pass for an exact resume.
  for (const std::string bad : {"mt19937 1 2", "", "philox 7"})
    expect_error([&] { g2.set_state(bad); },
                 {"Generator::set_state: expected \"philox <seed> <offset>\", got \"" + bad});
  EXPECT_EQ(g2.get_state(), g1.get_state());
}

TEST(Tensor, ErrorsNameTheOpAndShapes) {
  try {
    mm(ones({2, 3}), ones({2, 3}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mm: shapes [2, 3] and [2, 3]"), std::string::npos) << e.what();
  }
  try {
    ones({2, 3}).view({4});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[4] is invalid for input of shape [2, 3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(mm(ones({2, 3}), ones({3, 2}, {.dtype = DType::f64})), Error);  // dtype mismatch
  EXPECT_THROW(ones({2}).to(Device("cuda:99")), Error);  // no such GPU, with or without one
  EXPECT_THROW(Device("gpu"), Error);
  EXPECT_THROW(ones({2}).sum({2}), Error);
  // A 0-d tensor has no dimension to index (these read past its empty shape: a crash).
  const Tensor s = scalar_tensor(1.5);
  expect_error([&] { select(s, 0, 0); }, {"select", "0-dim"});
  expect_error([&] { narrow(s, 0, 0, 1); }, {"narrow", "0-dim"});
  expect_error([&] { slice(s, 0, 0, 1); }, {"slice", "0-dim"});
  expect_error([&] { (void)s.size(0); }, {"size(0)", "0-d"});
  expect_error([&] { (void)s.stride(-1); }, {"stride(-1)", "0-d"});
}

// A tensor without elements is contiguous whatever its strides, as PyTorch's (a random fill of one recursed without
// end, since its fresh strides [3, 3, 1] did not look contiguous).
TEST(Tensor, EmptyTensorsAreContiguous) {
  Tensor t = empty({2, 0, 3});
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(t.transpose(0, 2).is_contiguous());
  EXPECT_EQ(uniform_(t, 0.0, 1.0).numel(), 0);
  EXPECT_EQ(randn({0, 4}).shape(), (Shape{0, 4}));
}

// In place with a tensor, the promoted result must fit the tensor's dtype, as PyTorch's canCast: a float result is
// refused by an integer or bool tensor (never truncated), any but a bool result by a bool tensor.
TEST(Tensor, InPlaceOpsRefuseAResultTheirDtypeCannotHold) {
  const Tensor f = full({2}, 1.5);
  Tensor i = full({2}, 2.0, {.dtype = DType::i64});
  expect_error([&] { i.add_(f); }, {"add_", "result type f32", "i64"});
  expect_error([&] { i.mul_(f); }, {"mul_", "result type f32", "i64"});
  Tensor flags = full({2}, 1.0, {.dtype = DType::boolean});
  expect_error([&] { flags.add_(i); }, {"add_", "result type i64", "bool"});
  EXPECT_EQ(i.add_(full({2}, 1.0, {.dtype = DType::i32})).to_vector<int64_t>(), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(i.mul_(flags).to_vector<int64_t>(), (std::vector<int64_t>{3, 3}));
  Tensor h = full({2}, 1.0, {.dtype = DType::bf16});
  EXPECT_EQ(h.add_(f).to_vector<float>(), (std::vector<float>{2.5f, 2.5f})) << "a float result fits any float dtype";
}

// PyTorch refuses in-place writes whose result would depend on the order elements are written in: into an expanded
// tensor ("more than one element of the written-to tensor refers to a single memory location"; fill_ and zero_
// excepted), and from an operand that overlaps the written tensor other than element for element ("some elements of
// the input tensor and the written-to tensor refer to a single memory location"). Unchecked, the CPU's sequential
// loop computes x.add_(x.t()) as [[2, 5], [8, 8]] (x[0][1] is read for x[1][0] after it was written), not
// [[2, 5], [5, 8]]; a GPU's threads read and write in no set order.
TEST(Tensor, InPlaceOpsRefuseOverlappingMemory) {
  Tensor one = zeros({1});
  expect_error([&] { one.expand({3}).add_(ones({3})); }, {"add_", "more than one element of the written-to tensor"});
  expect_error([&] { one.expand({3}).mul_(2.0); }, {"mul_", "more than one element"});
  expect_error([&] { one.expand({2, 3}).mul_(ones({2, 3})); }, {"mul_", "more than one element"});
  expect_error([&] { one.expand({3}).copy_(ones({3})); }, {"copy_", "more than one element"});
  EXPECT_EQ(one.version(), 0u);
  one.expand({3}).fill_(1.0);  // allowed, as in PyTorch: every element gets the same value
  one.expand({3}).zero_();

  Tensor x = tensor<float>({1, 2, 3, 4}, {2, 2});
  expect_error([&] { x.add_(x.t()); }, {"add_", "some elements of the input tensor", "and the written-to tensor"});
  expect_error([&] { x.mul_(x.select(0, 0)); }, {"mul_", "some elements"});
  Tensor flat = arange(0, 4, 1, {.dtype = DType::f32});
  expect_error([&] { flat.narrow(0, 1, 3).copy_(flat.narrow(0, 0, 3)); }, {"copy_", "some elements"});
  expect_error([&] { flat.narrow(0, 1, 3).add_(flat.narrow(0, 0, 3)); }, {"add_", "some elements"});
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 2, 3, 4})) << "a refused op leaves the tensor as it was";
  EXPECT_EQ(flat.to_vector<float>(), (std::vector<float>{0, 1, 2, 3}));

  // Allowed, as in PyTorch: the same elements (x.add_(x), or through another view of the same layout), disjoint
  // parts of one storage, and an operand cloned first.
  x.add_(x);
  x.add_(x.detach().reshape({2, 2}));
  flat.narrow(0, 0, 2).copy_(flat.narrow(0, 2, 2));
  x.add_(x.t().clone());
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{8, 20, 20, 32}));
  EXPECT_EQ(flat.to_vector<float>(), (std::vector<float>{2, 3, 2, 3}));
}

// PyTorch: int64.mul_(1.5) and int64.add_(other, alpha=0.5) are errors, never a truncation; bool takes 0 and 1.
TEST(Tensor, InPlaceScalarsMustFitAnIntegerOrBoolTensor) {
  Tensor i = full({2}, 3.0, {.dtype = DType::i64});
  expect_error([&] { i.mul_(1.5); }, {"mul_", "the scalar 1.5", "i64", "whole numbers only"});
  expect_error([&] { i.add_(i.clone(), 0.5); }, {"add_", "alpha 0.5", "i64"});
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{3, 3})) << "a refused op leaves the tensor as it was";
  EXPECT_EQ(i.mul_(-2.0).to_vector<int64_t>(), (std::vector<int64_t>{-6, -6}));
  EXPECT_EQ(i.add_(full({2}, 1.0, {.dtype = DType::i32}), 3.0).to_vector<int64_t>(), (std::vector<int64_t>{-3, -3}));
  Tensor flags = full({2}, 1.0, {.dtype = DType::boolean});
  expect_error([&] { flags.mul_(2.0); }, {"mul_", "bool", "only 0 and 1"});
  EXPECT_EQ(flags.mul_(0.0).to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
  Tensor f = full({2}, 3.0);
  EXPECT_EQ(f.mul_(0.5).to_vector<float>(), (std::vector<float>{1.5f, 1.5f})) << "any scalar fits a float tensor";
}

// PyTorch's as_strided refuses a view reaching outside its storage ("setStorage: sizes [4], strides [1], storage
// offset 0, and itemsize 4 requiring a storage size of 16 are out of bounds for storage of size 12"); make_view, its
// counterpart, read and wrote past the allocation.
TEST(Tensor, MakeViewStaysInsideItsStorage) {
  const Tensor x = zeros({3});
  expect_error([&] { make_view(x, {4}, {1}, 0); }, {"make_view", "out of bounds", "12 bytes"});
  expect_error([&] { make_view(x, {2}, {1}, 2); }, {"make_view", "out of bounds"});
  expect_error([&] { make_view(x, {2}, {3}, 0); }, {"make_view", "out of bounds"});
  expect_error([&] { make_view(x, {2}, {1}, -1); }, {"make_view", "negative storage offset"});
  expect_error([&] { make_view(x, {2}, {1, 1}, 0); }, {"make_view", "differ in length"});
  EXPECT_EQ(make_view(x.narrow(0, 1, 2), {2}, {1}, 1).numel(), 2);  // the storage's bounds, not the view's
  EXPECT_EQ(make_view(x, {0, 5}, {5, 1}, 3).numel(), 0);
  EXPECT_EQ(make_view(x, {4}, {0}, 2).numel(), 4);
}

}  // namespace
}  // namespace tessera
