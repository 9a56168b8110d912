// Matrix products. mm/bmm/linear call the backend's GEMM directly on strided operands when a transpose flag can
// express the layout (no copy for x.t() or weight.t()); bmm is one batched GEMM (one cuBLASLt call on a GPU); matmul
// is composed from them, so its gradient comes for free.
#include "core/ops/linalg.h"

#include <optional>

#include "core/amp/autocast.h"
#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/backend_of.h"
#include "core/ops/elementwise.h"
#include "core/ops/factory.h"
#include "core/ops/pointwise.h"
#include "core/ops/reduce.h"
#include "core/ops/view.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

// A 2-D matrix `t` as a GEMM operand: row-major with a leading dimension, or its transpose. `storage` keeps a
// contiguous copy alive when neither layout fits.
struct BlasOperand {
  Tensor storage;
  kernels::MatrixArg ref;
};

// A rows x cols matrix with strides (row_stride, col_stride) as a GEMM operand, when one of its layouts fits.
std::optional<kernels::MatrixArg> matrix_layout(const void* data, int64_t rows, int64_t cols, int64_t row_stride,
                                                int64_t col_stride) {
  if ((col_stride == 1 || cols == 1) && row_stride >= std::max<int64_t>(cols, 1))
    return kernels::MatrixArg{data, row_stride, false};
  if ((row_stride == 1 || rows == 1) && col_stride >= std::max<int64_t>(rows, 1))
    return kernels::MatrixArg{data, col_stride, true};
  return std::nullopt;
}

BlasOperand blas_operand(const Tensor& t) {
  if (auto ref = matrix_layout(t.raw_data(), t.shape()[0], t.shape()[1], t.strides()[0], t.strides()[1]))
    return {t, *ref};
  Tensor c = t.contiguous();
  return {c, {c.raw_data(), std::max<int64_t>(c.shape()[1], 1), false}};
}

// A 3-D tensor's matrices as the operand of a batched GEMM: blas_operand's layouts for each matrix, and the batch
// stride between them (0 for an expanded batch, as matmul makes for a 2-D operand: PyTorch hands cuBLASLt such
// strides too); a contiguous copy where no layout fits.
struct BatchedOperand {
  Tensor storage;
  kernels::MatrixArg ref;
  int64_t stride;
};

BatchedOperand batched_operand(const Tensor& t) {
  const int64_t rows = t.shape()[1], cols = t.shape()[2];
  if (auto ref = matrix_layout(t.raw_data(), rows, cols, t.strides()[1], t.strides()[2]))
    return {t, *ref, t.strides()[0]};
  Tensor c = t.contiguous();
  return {c, {c.raw_data(), std::max<int64_t>(cols, 1), false}, c.strides()[0]};
}

// c (m, n) contiguous = epilogue(a (m, k) @ b (k, n) + beta * c).
void gemm_into(const Tensor& c, const Tensor& a, const Tensor& b, double beta,
               const kernels::GemmEpilogueArgs& epilogue = {}) {
  const BlasOperand pa = blas_operand(a), pb = blas_operand(b);
  const int64_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  backend_of(detail::common_device("mm", {&c, &a, &b}))
      .gemm(c.dtype(), m, n, k, 1.0, pa.ref, pb.ref, beta, c.raw_data(), std::max<int64_t>(n, 1), epilogue);
}

// The dtype the GEMM runs in: the operands' (bf16 and f16 accumulate in f32 inside the backend).
DType blas_type(const Tensor& a, const Tensor& b, const char* op) {
  TESSERA_CHECK(a.is_floating_point() && b.is_floating_point(), op, ": expected floating tensors, got ",
                dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  TESSERA_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch, ", dtype_name(a.dtype()), " and ",
                dtype_name(b.dtype()));
  return a.dtype();
}

Tensor mm_forward(const Tensor& a, const Tensor& b) {
  const DType compute = blas_type(a, b, "mm");
  Tensor out = empty({a.shape()[0], b.shape()[1]}, {.dtype = compute, .device = a.device()});
  gemm_into(out, a.detach().to(compute), b.detach().to(compute), 0.0);
  return out.to(a.dtype()).detach();
}

// t as a matrix of its last dim's length: every leading dim folded into rows. Not reshape({-1, k}): with k == 0
// that -1 has no unique value (an empty inner dim is a valid product: zeros, plus any bias).
Tensor as_rows(const Tensor& t) {
  const Shape& shape = t.shape();
  return t.reshape({shape_numel(Shape(shape.begin(), shape.end() - 1)), shape.back()});
}

}  // namespace

Tensor mm(const Tensor& a, const Tensor& b) {
  TESSERA_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected 2-D tensors, got ", shape_str(a.shape()), " and ",
                shape_str(b.shape()));
  TESSERA_CHECK(a.shape()[1] == b.shape()[0], "mm: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
                " cannot be multiplied (", a.shape()[1], " != ", b.shape()[0], ")");
  if (amp::casts_to_lower({&a, &b})) return mm(amp::lower_precision(a), amp::lower_precision(b));
  Tensor out = mm_forward(a, b);
  autograd::record("MmBackward", {a, b}, {out}, {a, b}, [](const Grads& g, const Grads& s, const Node& n) {
    return Grads{n.needs_input_grad(0) ? mm(g[0], s[1].t()) : Tensor(),
                 n.needs_input_grad(1) ? mm(s[0].t(), g[0]) : Tensor()};
  });
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  TESSERA_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-D tensors, got ", shape_str(a.shape()), " and ",
                shape_str(b.shape()));
  TESSERA_CHECK(a.shape()[0] == b.shape()[0] && a.shape()[2] == b.shape()[1], "bmm: shapes ", shape_str(a.shape()),
                " and ", shape_str(b.shape()), " cannot be multiplied");
  if (amp::casts_to_lower({&a, &b})) return bmm(amp::lower_precision(a), amp::lower_precision(b));
  const DType compute = blas_type(a, b, "bmm");
  const int64_t batch = a.shape()[0], m = a.shape()[1], k = a.shape()[2], n = b.shape()[2];
  Tensor out = empty({batch, m, n}, {.dtype = compute, .device = a.device()});
  {
    NoGradGuard no_grad;
    const BatchedOperand x = batched_operand(a.to(compute)), y = batched_operand(b.to(compute));
    backend_of(detail::common_device("bmm", {&out, &x.storage, &y.storage}))
        .gemm_batched(compute, {.count = batch, .stride_a = x.stride, .stride_b = y.stride, .stride_c = m * n}, m, n,
                      k, 1.0, x.ref, y.ref, 0.0, out.raw_data(), std::max<int64_t>(n, 1));
  }
  out = out.to(a.dtype()).detach();
  autograd::record("BmmBackward", {a, b}, {out}, {a, b}, [](const Grads& g, const Grads& s, const Node& n) {
    return Grads{n.needs_input_grad(0) ? bmm(g[0], s[1].transpose(1, 2)) : Tensor(),
                 n.needs_input_grad(1) ? bmm(s[0].transpose(1, 2), g[0]) : Tensor()};
  });
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  TESSERA_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dimension, got ",
                shape_str(a.shape()), " and ", shape_str(b.shape()));
  if (a.dim() == 1 && b.dim() == 1) return mm(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  if (a.dim() == 2 && b.dim() == 1) return mm(a, b.unsqueeze(1)).squeeze(1);
  if (a.dim() == 1 && b.dim() == 2) return mm(a.unsqueeze(0), b).squeeze(0);
  if (a.dim() == 2 && b.dim() == 2) return mm(a, b);
  if (b.dim() <= 2) {  // (..., n, k) @ (k, m): one big GEMM over the folded batch
    const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
    Shape out_shape(a.shape().begin(), a.shape().end() - 1);
    if (b.dim() == 2) out_shape.push_back(b.shape()[1]);
    return mm(as_rows(a), b2).reshape(out_shape);
  }
  // General batched case: broadcast the batch dims and run bmm.
  const Tensor a3 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b3 = b;
  const Shape batch_a(a3.shape().begin(), a3.shape().end() - 2), batch_b(b3.shape().begin(), b3.shape().end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b);
  const int64_t n = a3.shape()[a3.dim() - 2], k = a3.shape().back(), m = b3.shape().back();
  Shape a_shape = batch, b_shape = batch;
  a_shape.insert(a_shape.end(), {n, k});
  b_shape.insert(b_shape.end(), {b3.shape()[b3.dim() - 2], m});
  // The folded batch by its size, not -1: with n, k or m zero, -1 has no unique value (matmul of [0] and [2, 0, 3]).
  const int64_t batch_size = shape_numel(batch);
  Tensor out = bmm(a3.expand(a_shape).reshape({batch_size, n, k}),
                   b3.expand(b_shape).reshape({batch_size, b_shape[b_shape.size() - 2], m}));
  Shape out_shape = batch;
  if (a.dim() > 1) out_shape.push_back(n);
  out_shape.push_back(m);
  return out.reshape(out_shape);
}

namespace {

// linear, and with `relu` linear_relu: the bias (and the ReLU) in the GEMM's epilogue, one backend call.
Tensor linear_with(const Tensor& x, const Tensor& weight, const Tensor& bias, bool relu) {
  const char* op = relu ? "linear_relu" : "linear";
  TESSERA_CHECK(weight.dim() == 2, op, ": weight must be 2-D (out_features, in_features), got ",
                shape_str(weight.shape()));
  TESSERA_CHECK(x.dim() >= 1 && x.shape().back() == weight.shape()[1], op, ": input of shape ", shape_str(x.shape()),
                " does not match weight of shape ", shape_str(weight.shape()), " (expected last dim ",
                weight.shape()[1], ")");
  if (bias.defined())
    TESSERA_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], op, ": bias of shape ",
                  shape_str(bias.shape()), " does not match ", weight.shape()[0], " output features");
  if (amp::casts_to_lower({&x, &weight, &bias}))
    return linear_with(amp::lower_precision(x), amp::lower_precision(weight), amp::lower_precision(bias), relu);
  if (relu && !bias.defined()) return tessera::relu(linear(x, weight));  // the epilogue's ReLU needs a bias
  const int64_t out_features = weight.shape()[0];
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(out_features);
  const DType compute = blas_type(x, weight, op);
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor x2 = as_rows(x).to(compute);
    const Tensor b = bias.defined() ? bias.to(compute).contiguous() : Tensor();
    out = empty({x2.shape()[0], out_features}, {.dtype = compute, .device = x.device()});
    gemm_into(out, x2, weight.to(compute).t(), 0.0, {.bias = b.defined() ? b.raw_data() : nullptr, .relu = relu});
    out = out.to(x.dtype()).reshape(out_shape).detach();
  }
  autograd::record("LinearBackward", {x, weight, bias}, {out}, {x, weight},
                   [](const Grads& g, const Grads& s, const Node& n) {
    const Tensor g2 = as_rows(g[0]);
    Grads grads(3);
    if (n.needs_input_grad(0)) grads[0] = mm(g2, s[1]).reshape(n.input_meta[0].shape);
    if (n.needs_input_grad(1)) grads[1] = mm(g2.t(), as_rows(s[0]));
    if (n.needs_input_grad(2)) grads[2] = sum(g2, {0});
    return grads;
  });
  return relu ? detail::clamped_as_relu_output(out) : out;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) { return linear_with(x, weight, bias, false); }

Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return linear_with(x, weight, bias, true);
}

}  // namespace tessera
