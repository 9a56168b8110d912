// The elementwise front end: operands as StridedArgs broadcast to the output's shape, one backend call.
#include "core/ops/elementwise.h"

#include "core/backend_of.h"
#include "core/ops/factory.h"

namespace tessera::detail {

namespace {

// `t` viewed as broadcast to `shape`: element strides, 0 along broadcast dims.
kernels::StridedArg arg_of(const Tensor& t, const Shape& shape) {
  const Shape& ts = t.shape();
  TESSERA_CHECK(ts.size() <= shape.size(), "cannot broadcast shape ", shape_str(ts), " to ", shape_str(shape));
  kernels::StridedArg arg;
  arg.data = t.raw_data();
  arg.dtype = t.dtype();
  const size_t lead = shape.size() - ts.size();
  for (size_t i = 0; i < ts.size(); ++i) {
    TESSERA_CHECK(ts[i] == shape[lead + i] || ts[i] == 1, "cannot broadcast shape ", shape_str(ts), " to ",
                  shape_str(shape));
    arg.strides[lead + i] = ts[i] == 1 ? 0 : t.strides()[i];
  }
  return arg;
}

}  // namespace

kernels::LoopShape loop_shape(const Tensor& t, const char* op) {
  TESSERA_CHECK(t.dim() <= kernels::kMaxDims, op, ": tensors of more than ", kernels::kMaxDims,
                " dimensions are not supported (shape ", shape_str(t.shape()), ")");
  kernels::LoopShape loop;
  loop.ndim = static_cast<int>(t.dim());
  for (int d = 0; d < loop.ndim; ++d) loop.sizes[d] = t.shape()[d];
  return loop;
}

Device common_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Device device = (*tensors.begin())->device();
  for (const Tensor* t : tensors)
    TESSERA_CHECK(t->device() == device, op, ": expected all tensors on one device, got ", device.str(), " and ",
                  t->device().str());
  return device;
}

void unary_into(UnaryOp op, const Tensor& out, const Tensor& in, const OpScalars& scalars) {
  const char* name = kernels::op_name(op);
  backend_of(common_device(name, {&out, &in}))
      .unary(op, loop_shape(out, name), arg_of(out, out.shape()), arg_of(in, out.shape()), scalars);
}

void binary_into(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, const OpScalars& scalars) {
  const char* name = kernels::op_name(op);
  backend_of(common_device(name, {&out, &a, &b}))
      .binary(op, loop_shape(out, name), arg_of(out, out.shape()), arg_of(a, out.shape()), arg_of(b, out.shape()),
              scalars);
}

void ternary_into(TernaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c,
                  const OpScalars& scalars) {
  const char* name = kernels::op_name(op);
  backend_of(common_device(name, {&out, &a, &b, &c}))
      .ternary(op, loop_shape(out, name), arg_of(out, out.shape()), arg_of(a, out.shape()), arg_of(b, out.shape()),
               arg_of(c, out.shape()), scalars);
}

void fill_into(const Tensor& out, double value) {
  backend_of(out.device()).fill(loop_shape(out, "fill"), arg_of(out, out.shape()), value);
}

void add_into(const Tensor& out, const Tensor& a, const Tensor& b, double alpha) {
  binary_into(BinaryOp::add, out, a.to(out.dtype()), b.to(out.dtype()), {.a = alpha});
}

void mul_into(const Tensor& out, const Tensor& a, const Tensor& b) {
  binary_into(BinaryOp::mul, out, a.to(out.dtype()), b.to(out.dtype()));
}

Tensor map_floating(const Tensor& x, UnaryOp op, const OpScalars& scalars) {
  const Tensor in = x.to(float_result_type(x.dtype()));
  Tensor out = empty_like(in);
  unary_into(op, out, in, scalars);
  return out;
}

Tensor map_numeric(const Tensor& x, UnaryOp op, const OpScalars& scalars) {
  Tensor out = empty_like(x);
  unary_into(op, out, x, scalars);
  return out;
}

Tensor backward_map(const Tensor& grad, const Tensor& saved, BinaryOp op, const OpScalars& scalars) {
  Tensor out = empty_like(saved);
  binary_into(op, out, grad.to(saved.dtype()), saved, scalars);
  return out;
}

}  // namespace tessera::detail

namespace tessera {

void copy_into(const Tensor& dst, const Tensor& src) {
  const Tensor source = src.device() == dst.device() ? src : src.detach().to(dst.device());
  detail::unary_into(kernels::UnaryOp::copy, dst, source);
}

}  // namespace tessera
