// Indexing, concatenation and softmax: values, finite-difference gradients (f64, non-contiguous inputs), errors,
// and values + gradients against PyTorch (f32 and f64, one batched python call).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/core.h"
#include "tests/core/index_loss_ref.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

TEST(IndexOps, IndexSelectValuesAndGradients) {
  Tensor x = tensor<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(index_select(x, 1, idx({2, 0, 2})).to_vector<double>(), (std::vector<double>{3, 1, 3, 6, 4, 6}));
  EXPECT_EQ(index_select(x, 0, idx({1})).shape(), (Shape{1, 3}));
  EXPECT_EQ(index_select(x, -1, tensor<int32_t>({1}, {})).to_vector<double>(), (std::vector<double>{2, 5}));
  const Tensor repeated = idx({3, 0, 3, 1});
  expect_gradients_match([&](const Inputs& in) { return index_select(in[0], 1, repeated); },
                         {noncontiguous_leaf({3, 4, 2}, 1)});
  expect_gradients_match([&](const Inputs& in) { return index_select(in[0], 0, repeated); }, {random_leaf({5, 3}, 2)});
  expect_gradients_match([&](const Inputs& in) { return index_select(in[0], 2, idx({1, 1})); },
                         {noncontiguous_leaf({2, 3, 4}, 3)});
}

TEST(IndexOps, EmbeddingPaddingRowGetsNoGradient) {
  Tensor w = tensor<double>({0, 1, 10, 11, 20, 21}, {3, 2}).requires_grad_();
  Tensor ids = idx({2, 0, 2, 1}, {2, 2});
  Tensor out = embedding(w, ids, 2);
  EXPECT_EQ(out.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{20, 21, 0, 1, 20, 21, 10, 11}));
  out.sum().backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1, 1, 1, 1, 0, 0}));
  w.set_grad(Tensor());
  embedding(w, ids, -1).sum().backward();  // -1 is row 2
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1, 1, 1, 1, 0, 0}));
  expect_gradients_match([&](const Inputs& in) { return embedding(in[0], ids); }, {noncontiguous_leaf({3, 4}, 4)});
  // A padding row that is not looked up changes nothing (finite differences see the padding row's true slope).
  expect_gradients_match([&](const Inputs& in) { return embedding(in[0], idx({1, 1, 0}), 3); },
                         {random_leaf({4, 5}, 5)});
}

TEST(IndexOps, GatherAndScatterAddGradients) {
  Tensor x = tensor<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(gather(x, 1, idx({2, 2, 0, 1}, {2, 2})).to_vector<double>(), (std::vector<double>{3, 3, 4, 5}));
  EXPECT_EQ(gather(x, 0, idx({1, 0}, {1, 2})).to_vector<double>(), (std::vector<double>{4, 2}));
  Tensor s = scatter_add(zeros({2, 3}, {.dtype = DType::f64}), 1, idx({0, 0, 2, 1}, {2, 2}), x.slice(1, 0, 2));
  EXPECT_EQ(s.to_vector<double>(), (std::vector<double>{3, 0, 0, 0, 5, 4}));

  const Tensor index = idx({0, 2, 2, 1, 1, 0, 3, 3, 0, 1, 2, 3}, {3, 2, 2});
  expect_gradients_match([&](const Inputs& in) { return gather(in[0], 2, index); },
                         {noncontiguous_leaf({3, 2, 4}, 6)});
  expect_gradients_match([&](const Inputs& in) { return gather(in[0], 0, idx({2, 0, 1, 1, 0, 2}, {2, 3})); },
                         {noncontiguous_leaf({3, 4}, 7)});
  // src larger than index: the unread part of src gets zero gradient.
  expect_gradients_match([&](const Inputs& in) { return scatter_add(in[0], 2, index, in[1]); },
                         {noncontiguous_leaf({3, 2, 4}, 8), random_leaf({3, 3, 2}, 9)});
  expect_gradients_match([&](const Inputs& in) { return scatter_add(in[0], 0, idx({1, 1, 0, 1}, {2, 2}), in[1]); },
                         {random_leaf({2, 3}, 10), noncontiguous_leaf({2, 2}, 11)});
}

TEST(IndexOps, OneHot) {
  Tensor oh = one_hot(idx({2, 0, 1, 2}, {2, 2}), 3);
  EXPECT_EQ(oh.dtype(), DType::i64);
  EXPECT_EQ(oh.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(oh.to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(one_hot(idx({0, 3}), -1).shape(), (Shape{2, 4}));
  expect_error([] { one_hot(idx({0, 3}), 3); }, {"one_hot", "class 3", "3 classes"});
  expect_error([] { one_hot(idx({-1}), 3); }, {"one_hot", "-1"});
  expect_error([] { one_hot(tensor<double>({1.0}), 3); }, {"one_hot", "integer", "f64"});
}

TEST(IndexOps, OutOfRangeIndicesAreErrorsNamingOpIndexAndSize) {
  Tensor x = zeros({2, 3});
  expect_error([&] { index_select(x, 1, idx({0, 3})); }, {"index_select", "index 3", "dimension 1 with size 3"});
  expect_error([&] { index_select(x, 0, idx({-1})); }, {"index_select", "index -1", "size 2"});
  expect_error([&] { gather(x, 0, idx({0, 5}, {1, 2})); }, {"gather", "index 5", "dimension 0 with size 2"});
  expect_error([&] { scatter_add(x, 1, idx({7}, {1, 1}), ones({1, 1})); },
               {"scatter_add", "index 7", "dimension 1 with size 3"});
  expect_error([&] { embedding(x, idx({0, 2})); }, {"embedding", "index 2", "2 embeddings"});
  expect_error([&] { embedding(x, idx({0}), 4); }, {"embedding", "padding_idx 4"});
}

TEST(IndexOps, DtypeAndShapeMismatchesAreClearErrors) {
  Tensor x = zeros({2, 3});
  expect_error([&] { index_select(x, 0, tensor<float>({0.0f})); }, {"index_select", "integer", "f32"});
  expect_error([&] { index_select(x, 0, idx({0, 1}, {1, 2})); }, {"index_select", "1-D", "[1, 2]"});
  expect_error([&] { gather(x, 1, idx({0, 1})); }, {"gather", "as many dims", "[2]"});
  expect_error([&] { gather(x, 1, idx({0, 0, 0}, {3, 1})); }, {"gather", "larger", "dimension 0"});
  expect_error([&] { scatter_add(x, 1, idx({0}, {1, 1}), ones({1, 1}, {.dtype = DType::f64})); },
               {"scatter_add", "f32", "f64"});
  expect_error([&] { embedding(zeros({3}), idx({0})); }, {"embedding", "2-D", "[3]"});
}

TEST(CatOps, ValuesGradientsAndLegacyEmpty) {
  Tensor a = tensor<double>({1, 2, 3, 4}, {2, 2});
  Tensor b = tensor<double>({5, 6}, {2, 1});
  EXPECT_EQ(cat({a, b}, 1).to_vector<double>(), (std::vector<double>{1, 2, 5, 3, 4, 6}));
  EXPECT_EQ(cat({a, a.t()}, 0).to_vector<double>(), (std::vector<double>{1, 2, 3, 4, 1, 3, 2, 4}));
  EXPECT_EQ(cat({zeros({0}, {.dtype = DType::f32}), a}, 0).shape(), (Shape{2, 2}));  // legacy empty is skipped
  expect_gradients_match([](const Inputs& in) { return cat({in[0], in[1], in[0]}, -1); },
                         {noncontiguous_leaf({3, 2}, 1), random_leaf({3, 4}, 2)});
  expect_gradients_match([](const Inputs& in) { return cat({in[0], in[1]}, 0); },
                         {random_leaf({1, 2, 3}, 3), noncontiguous_leaf({2, 2, 3}, 4)});
  expect_gradients_match([](const Inputs& in) { return cat({in[0], in[1]}, 0); },
                         {random_leaf({0}, 5), random_leaf({2, 2}, 6)});
}

TEST(CatOps, StackValuesAndGradients) {
  Tensor a = tensor<double>({1, 2, 3}), b = tensor<double>({4, 5, 6});
  EXPECT_EQ(stack({a, b}).shape(), (Shape{2, 3}));
  EXPECT_EQ(stack({a, b}, 1).to_vector<double>(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(stack({a, b}, -1).shape(), (Shape{3, 2}));
  expect_gradients_match([](const Inputs& in) { return stack({in[0], in[1], in[0]}, 1); },
                         {noncontiguous_leaf({2, 3}, 7), random_leaf({2, 3}, 8)});
}

// Inputs of several dtypes promote as PyTorch's cat does (a skipped empty tensor's dtype counts too), and each
// input's gradient comes back in its own dtype.
TEST(CatOps, MixedDtypesPromoteAsPyTorch) {
  auto cat_of = [](int64_t dim) { return [dim](const Inputs& x) { return cat(x, dim); }; };
  const Tensor i64 = tensor<int64_t>({1, 2, 3}, {1, 3});
  testing::expect_matches_torch_exprs({
      {"torch.cat([a, b], 0)", cat_of(0), {uniform_tensor({2, 3}, DType::f32, 1), i64}},
      {"torch.cat([a, b], 1)", cat_of(1), {uniform_tensor({1, 2}, DType::bf16, 2), uniform_tensor({1, 3}, DType::f64, 3)}},
      {"torch.cat([a, b, c], 0)", cat_of(0),
       {zeros({0}, {.dtype = DType::bf16}), tensor<int32_t>({1}, {1}), tensor<int32_t>({2, 3, 4})}},
      {"torch.stack([a, b], 0)", [](const Inputs& x) { return stack(x, 0); },
       {tensor<uint8_t>({1, 200}), tensor<int32_t>({1, 0}).to(DType::boolean)}},
  });
}

TEST(CatOps, MismatchesAreClearErrors) {
  expect_error([] { cat({}, 0); }, {"cat", "non-empty"});
  expect_error([] { cat({zeros({2, 2}), zeros({2, 3})}, 0); }, {"cat", "dimension 0", "[2, 3]", "[2, 2]"});
  expect_error([] { cat({zeros({2, 2}), zeros({2})}, 0); }, {"cat", "[2]"});
  expect_error([] { cat({scalar_tensor(1.0)}, 0); }, {"cat", "zero-dimensional"});
  expect_error([] { cat({zeros({2, 2})}, 2); }, {"cat", "dimension 2 out of range"});
  expect_error([] { stack({zeros({2}), zeros({3})}, 0); }, {"stack", "[2]", "[3]", "entry 1"});
}

TEST(SoftmaxOps, ValuesAreStableForLargeInputs) {
  Tensor x = tensor<double>({1000, 1001, 1002, -1000, 0, 1000}, {2, 3});
  const std::vector<double> y = softmax(x, 1).to_vector<double>();
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  EXPECT_NEAR(y[0], 1 / z, 1e-15);
  EXPECT_NEAR(y[2], std::exp(2.0) / z, 1e-15);
  EXPECT_NEAR(y[5], 1.0, 1e-15);
  const std::vector<double> ly = log_softmax(x, 1).to_vector<double>();
  EXPECT_NEAR(ly[0], -std::log(z), 1e-12);
  EXPECT_NEAR(ly[3], -2000, 1e-9);
  Tensor big = full({4, 130}, 88.0);  // f32 exp(88) alone would be near overflow
  for (float v : softmax(big, 1).to_vector<float>()) EXPECT_NEAR(v, 1.0f / 130, 1e-7f);
  EXPECT_EQ(softmax(scalar_tensor(3.0), 0).item<double>(), 1.0);
  expect_error([] { softmax(arange(3), 0); }, {"softmax", "floating", "i64"});
}

TEST(SoftmaxOps, Float32RowsOfEveryLengthMatchFloat64) {
  // Lengths around the 8-float vector width exercise whole vectors, the masked tail and both together.
  for (int64_t n : {1, 3, 7, 8, 9, 10, 16, 17, 33, 130}) {
    SCOPED_TRACE(n);
    Tensor x64 = random_leaf({5, n}, static_cast<uint64_t>(n), -20.0, 20.0).detach();
    Tensor x32 = x64.to(DType::f32);
    testing::expect_close(softmax(x32, 1), softmax(x64, 1), 1e-7, 2e-6);
    testing::expect_close(log_softmax(x32, 1), log_softmax(x64, 1), 2e-6, 2e-6);
    testing::expect_close(softmax(x32.t(), 0), softmax(x64.t(), 0), 1e-7, 2e-6);  // the column-tile path
  }
}

TEST(SoftmaxOps, MaskedEntriesAreExactlyZeroAndNanPropagates) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = tensor<float>({0.5f, -inf, 2.0f, -inf, -inf, 1.0f, 1.0f, 1.0f, 1.0f, -inf}, {1, 10});
  const std::vector<float> y = softmax(x, 1).to_vector<float>();
  for (int k : {1, 3, 4, 9}) EXPECT_EQ(y[k], 0.0f);
  EXPECT_EQ(log_softmax(x, 1).to_vector<float>()[9], -inf);
  Tensor with_nan = tensor<float>({1.0f, std::nanf(""), 2.0f}, {1, 3});
  for (float v : softmax(with_nan, 1).to_vector<float>()) EXPECT_TRUE(std::isnan(v));
}

TEST(SoftmaxOps, HalfTypesComputeInFloat32) {
  Tensor x = random_leaf({4, 12}, 9, -4.0, 4.0).detach().to(DType::f32);
  for (DType dt : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor xh = x.to(dt).requires_grad_();
    Tensor y = softmax(xh, 1);
    EXPECT_EQ(y.dtype(), dt);
    testing::expect_close(y.to(DType::f32), softmax(xh.detach().to(DType::f32), 1), 1e-2, 1e-2);
    testing::expect_close(log_softmax(xh, 0).to(DType::f32), log_softmax(xh.detach().to(DType::f32), 0), 3e-2, 1e-2);
    (y * y).sum().backward();
    EXPECT_EQ(xh.grad().dtype(), dt);
  }
}

// SoftmaxOps.HalfTypesComputeInFloat32 checks only the dtype of the half-type gradient. The bf16/f16 backward loops
// are the backend's own instantiations (not the f32 route), so check their values: the f32 formula on the same
// rounded output and upstream gradient, rounded once to the half type (within 2 ulp), along the last dim (rows) and
// dim 0 (the column-tile path).
TEST(SoftmaxOps, HalfTypesBackwardIsTheF32FormulaRounded) {
  for (DType dt : {DType::bf16, DType::f16}) {
    const double rtol = dt == DType::bf16 ? 1.6e-2 : 2e-3;
    for (int64_t dim : {1, 0}) {
      for (bool log : {false, true}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " dim " + std::to_string(dim) + (log ? " log_softmax" : " softmax"));
        Tensor xh = uniform_tensor({5, 19}, dt, 11, -4.0, 4.0).requires_grad_();
        const Tensor y = log ? log_softmax(xh, dim) : softmax(xh, dim);
        const Tensor g = uniform_tensor({5, 19}, dt, 12);
        y.backward(g);
        const Tensor y32 = y.detach().to(DType::f32), g32 = g.to(DType::f32);
        const Tensor expected = log ? g32 - exp(y32) * g32.sum({dim}, true) : y32 * (g32 - (g32 * y32).sum({dim}, true));
        ASSERT_EQ(xh.grad().dtype(), dt);
        testing::expect_close(xh.grad().to(DType::f32), expected.to(dt).to(DType::f32), 1e-4, rtol);
      }
    }
  }
}

TEST(IndexOps, ParallelKernelsMatchOneThread) {
  // Sizes above the kernels' grain, so two threads split the work; the results must not depend on it.
  Tensor w = random_leaf({300, 64}, 1).detach().to(DType::f32).requires_grad_();
  Tensor ids = randint(0, 300, {4096});
  Tensor x = random_leaf({64, 2000}, 2).detach().to(DType::f32).requires_grad_();
  auto run = [&] {
    w.set_grad(Tensor());
    x.set_grad(Tensor());
    Tensor e = embedding(w, ids, 7);
    Tensor s = softmax(x, 1) + log_softmax(x, 0);
    (e * e).sum().backward();
    (s * s).sum().backward();
    return std::vector<Tensor>{e.detach(), s.detach(), w.grad(), x.grad()};
  };
  testing::expect_parallel_matches_serial(run);
}

TEST(SoftmaxOps, GradientsMatchFiniteDifferences) {
  for (int64_t dim : {0, 1, 2, -1}) {
    SCOPED_TRACE(dim);
    expect_gradients_match([dim](const Inputs& in) { return softmax(in[0], dim); }, {noncontiguous_leaf({3, 4, 5}, 1)});
    expect_gradients_match([dim](const Inputs& in) { return log_softmax(in[0], dim); },
                           {noncontiguous_leaf({3, 4, 5}, 2)});
  }
  // Wider than one tile of inner columns (softmax over dim 0 of a (3, 150) tensor).
  expect_gradients_match([](const Inputs& in) { return softmax(in[0], 0); }, {random_leaf({3, 150}, 3)});
  expect_gradients_match([](const Inputs& in) { return log_softmax(in[0], 0); }, {random_leaf({3, 150}, 4)});
}

TEST(IndexTorchRef, ValuesAndGradientsMatchPyTorch) {
  std::vector<RefCase> cases;
  for (DType dt : {DType::f32, DType::f64}) {
    const std::string d = dtype_name(dt);
    const Tensor index = idx({0, 2, 2, 1, 1, 0, 3, 3, 0, 1, 2, 3}, {3, 2, 2});
    cases.push_back({"cat " + d, "cat", {ref_leaf({2, 3}, dt, 1, true), ref_leaf({2, 1}, dt, 2)}, {{"dim", 1}},
                     [](const Inputs& in) { return cat(in, 1); }});
    cases.push_back({"stack " + d, "stack", {ref_leaf({2, 3}, dt, 3), ref_leaf({2, 3}, dt, 4, true)}, {{"dim", 2}},
                     [](const Inputs& in) { return stack(in, 2); }});
    cases.push_back({"index_select " + d, "index_select", {ref_leaf({3, 4}, dt, 5, true), idx({3, 0, 3})},
                     {{"dim", 1}}, [](const Inputs& in) { return index_select(in[0], 1, in[1]); }});
    cases.push_back({"gather " + d, "gather", {ref_leaf({3, 2, 4}, dt, 6, true), index}, {{"dim", 2}},
                     [](const Inputs& in) { return gather(in[0], 2, in[1]); }});
    cases.push_back({"scatter_add " + d, "scatter_add", {ref_leaf({3, 2, 4}, dt, 7), index, ref_leaf({3, 2, 2}, dt, 8, true)},
                     {{"dim", 2}}, [](const Inputs& in) { return scatter_add(in[0], 2, in[1], in[2]); }});
    cases.push_back({"embedding " + d, "embedding", {ref_leaf({5, 3}, dt, 9), idx({4, 0, 4, 2, 1, 4}, {2, 3})},
                     {{"padding_idx", 4}}, [](const Inputs& in) { return embedding(in[0], in[1], 4); }});
    for (const char* op : {"softmax", "log_softmax"}) {
      const bool log = std::string(op) == "log_softmax";
      for (int64_t dim : {1, -1}) {
        cases.push_back({std::string(op) + " dim " + std::to_string(dim) + " " + d, op,
                         {ref_leaf({4, 70, 3}, dt, 10 + dim, true, -8.0, 8.0)}, {{"dim", dim}},
                         [log, dim](const Inputs& in) { return log ? log_softmax(in[0], dim) : softmax(in[0], dim); }});
      }
      for (int64_t n : {10, 17}) {  // contiguous rows: vectors and a masked tail
        cases.push_back({std::string(op) + " rows of " + std::to_string(n) + " " + d, op,
                         {ref_leaf({6, n}, dt, 20 + n, false, -8.0, 8.0)}, {{"dim", 1}},
                         [log](const Inputs& in) { return log ? log_softmax(in[0], 1) : softmax(in[0], 1); }});
      }
    }
  }
  cases.push_back({"one_hot", "one_hot", {idx({1, 0, 3})}, {{"num_classes", 5}},
                   [](const Inputs& in) { return one_hot(in[0], 5); }});
  testing::expect_matches_torch(cases);
}

}  // namespace
}  // namespace tessera
