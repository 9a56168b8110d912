// softmax and log_softmax along one dim: the front end (dtype check, layout, autograd); the loops are the
// backend's softmax entries (kernels/cpu/softmax.cpp). Backward uses only the saved output y.
#include "core/autograd/node.h"
#include "core/amp/autocast.h"
#include "core/backend_of.h"
#include "core/ops/elementwise.h"
#include "core/ops/index_util.h"
#include "core/ops/nn_functional.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

kernels::ReduceShape axis_layout(const Shape& shape, int64_t dim) {
  const detail::DimLayout l = detail::dim_layout(shape, dim);
  return {.outer = l.outer, .n = l.size, .inner = l.inner};
}

template <bool Log>
Tensor softmax_op(const Tensor& x, int64_t dim) {
  const char* op = Log ? "log_softmax" : "softmax";
  TESSERA_CHECK(x.defined() && x.is_floating_point(), op, ": expected a floating tensor, got ",
                x.defined() ? dtype_name(x.dtype()) : "undefined", " (convert with to() first)");
  if (amp::casts_to_f32({&x})) return softmax_op<Log>(amp::to_f32(x), dim);
  dim = normalize_dim(dim, x.dim(), op);
  const kernels::ReduceShape layout = axis_layout(x.shape(), dim);
  const Tensor xc = x.detach().contiguous();
  Tensor y = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  backend_of(x.device()).softmax(xc.raw_data(), y.raw_data(), x.dtype(), layout, Log);
  autograd::record(Log ? "LogSoftmaxBackward" : "SoftmaxBackward", {x}, {y}, {y},
                   [layout, op](const Grads& g, const Grads& s, const Node&) {
    const Tensor gc = g[0].to(s[0].dtype()).contiguous();
    const Device device = detail::common_device(op, {&gc, &s[0]});
    Tensor gx = empty(gc.shape(), {.dtype = gc.dtype(), .device = device});
    backend_of(device).softmax_backward(s[0].raw_data(), gc.raw_data(), gx.raw_data(), gx.dtype(), layout, Log);
    return Grads{gx};
  });
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_op<false>(x, dim); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_op<true>(x, dim); }

}  // namespace tessera
