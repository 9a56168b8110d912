// max_pool2d, avg_pool2d and adaptive_avg_pool2d front ends. Each checks its options, applies PyTorch's
// output-size rules (ceil_mode, padding at most half the kernel) and describes the windows as a Pool2dGeometry
// (kernels/conv_pool_args.h); the backend pools a contiguous (N*C, H, W) view in one call each way. max_pool2d
// saves the argmax indices (i32, flat within the plane) for backward instead of the input.
#include "core/autograd/node.h"
#include "core/backend_of.h"
#include "core/ops/elementwise.h"
#include "core/ops/nn_common.h"
#include "core/ops/nn_functional.h"
#include "kernels/conv_pool_args.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;

namespace {

// PyTorch's pooling_output_shape.
int64_t pooled_size(int64_t n, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  const int64_t span = n + 2 * p - k + (ceil_mode ? s - 1 : 0);
  int64_t out = (span >= 0 ? span / s : -((-span + s - 1) / s)) + 1;
  if (ceil_mode && (out - 1) * s >= n + p) --out;
  return out;
}

// The geometry of max_pool2d/avg_pool2d on a checked 4-D input.
kernels::Pool2dGeometry fixed_geometry(const Tensor& x, const Pool2dOptions& o, const char* op) {
  kernels::Pool2dGeometry g{.planes = x.size(0) * x.size(1), .in_h = x.size(2), .in_w = x.size(3),
                            .count_include_pad = o.count_include_pad};
  for (int i = 0; i < 2; ++i) {
    const int64_t k = o.kernel_size[i], s = o.stride[i] == 0 ? k : o.stride[i], p = o.padding[i];
    const int64_t n = x.size(2 + i);
    TESSERA_CHECK(k > 0 && s > 0 && p >= 0, op, ": kernel_size and stride must be positive and padding ",
                  "non-negative, got kernel ", k, ", stride ", s, ", padding ", p);
    TESSERA_CHECK(p <= k / 2, op, ": padding ", p, " must be at most half the kernel size ", k);
    const int64_t out = pooled_size(n, k, s, p, o.ceil_mode);
    TESSERA_CHECK(out > 0, op, ": input ", shape_str(x.shape()), " is too small for kernel ", k, " with padding ", p);
    (i == 0 ? g.out_h : g.out_w) = out;
    (i == 0 ? g.kernel_h : g.kernel_w) = k;
    (i == 0 ? g.stride_h : g.stride_w) = s;
    (i == 0 ? g.pad_h : g.pad_w) = p;
  }
  return g;
}

void check_pool_input(const Tensor& x, const char* op) {
  TESSERA_CHECK(x.dim() == 4, op, ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got ", shape_str(x.shape()));
  TESSERA_CHECK(x.is_floating_point(), op, ": expected a floating tensor, got ", dtype_name(x.dtype()));
  TESSERA_CHECK(x.size(1) > 0 && x.size(2) > 0 && x.size(3) > 0, op, ": empty spatial or channel dim in input ",
                shape_str(x.shape()));
}

Tensor max_pool_4d(const Tensor& input, const kernels::Pool2dGeometry& g) {
  const Tensor x = input.detach().contiguous();
  const Shape out_shape{x.size(0), x.size(1), g.out_h, g.out_w};
  Tensor out = empty(out_shape, {.dtype = x.dtype(), .device = x.device()});
  Tensor idx = empty(out_shape, {.dtype = DType::i32, .device = x.device()});
  backend_of(x.device()).max_pool2d_forward(x.dtype(), g, x.raw_data(), out.raw_data(), idx.raw_data());
  autograd::record("MaxPool2dBackward", {input}, {out}, {idx}, [g](const Grads& grads, const Grads& s, const Node& n) {
    const Tensor gy = grads[0].contiguous();
    const Device device = detail::common_device("max_pool2d backward", {&gy, &s[0]});
    Tensor gx = empty(n.input_meta[0].shape, {.dtype = gy.dtype(), .device = device});
    backend_of(device).max_pool2d_backward(gy.dtype(), g, gy.raw_data(), s[0].raw_data(), gx.raw_data());
    return Grads{gx};
  });
  return out;
}

Tensor avg_pool_4d(const Tensor& input, const kernels::Pool2dGeometry& g, const char* name) {
  const Tensor x = input.detach().contiguous();
  Tensor out = empty({x.size(0), x.size(1), g.out_h, g.out_w}, {.dtype = x.dtype(), .device = x.device()});
  backend_of(x.device()).avg_pool2d_forward(x.dtype(), g, x.raw_data(), out.raw_data());
  autograd::record(name, {input}, {out}, {}, [g](const Grads& grads, const Grads&, const Node& n) {
    const Tensor gy = grads[0].contiguous();
    Tensor gx = empty(n.input_meta[0].shape, {.dtype = gy.dtype(), .device = gy.device()});
    backend_of(gy.device()).avg_pool2d_backward(gy.dtype(), g, gy.raw_data(), gx.raw_data());
    return Grads{gx};
  });
  return out;
}

// Runs `op` on a 4-D input of a kernel dtype: unbatched images get a batch dim; bf16/f16 go through f32 where the
// backend does not take them (the CPU's; a GPU's pools them as they are, bitwise the same: Backend::conv_pool_takes).
template <typename F> Tensor pool_front(const Tensor& input, const char* name, F&& op) {
  if (detail::is_unbatched_image(input)) return pool_front(input.unsqueeze(0), name, op).squeeze(0);
  check_pool_input(input, name);
  if (!backend_of(input.device()).conv_pool_takes(input.dtype())) return op(input.to(DType::f32)).to(input.dtype());
  return op(input);
}

}  // namespace

Tensor max_pool2d(const Tensor& input, Pool2dOptions options) {
  return pool_front(input, "max_pool2d", [&](const Tensor& x) {
    return max_pool_4d(x, fixed_geometry(x, options, "max_pool2d"));
  });
}

Tensor avg_pool2d(const Tensor& input, Pool2dOptions options) {
  return pool_front(input, "avg_pool2d", [&](const Tensor& x) {
    return avg_pool_4d(x, fixed_geometry(x, options, "avg_pool2d"), "AvgPool2dBackward");
  });
}

Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> output_size) {
  return pool_front(input, "adaptive_avg_pool2d", [&](const Tensor& x) {
    TESSERA_CHECK(output_size[0] > 0 && output_size[1] > 0, "adaptive_avg_pool2d: output size must be positive, got [",
                  output_size[0], ", ", output_size[1], "]");
    const kernels::Pool2dGeometry g{.planes = x.size(0) * x.size(1), .in_h = x.size(2), .in_w = x.size(3),
                                    .out_h = output_size[0], .out_w = output_size[1], .adaptive = true};
    return avg_pool_4d(x, g, "AdaptiveAvgPool2dBackward");
  });
}

}  // namespace tessera
