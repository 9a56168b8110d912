// max_pool2d, avg_pool2d and adaptive_avg_pool2d front ends. Each builds the per-axis windows (PoolAxis) with
// PyTorch's output-size rules (ceil_mode, padding at most half the kernel) and runs the op-agnostic kernels of
// kernels/cpu/pool_2d.h on a contiguous (N*C, H, W) view. max_pool2d saves the argmax indices (i32, flat within the
// plane) for backward instead of the input.
#include <memory>

#include "core/autograd/node.h"
#include "core/ops/nn_common.h"
#include "core/ops/nn_functional.h"
#include "kernels/cpu/pool_2d.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;
namespace kc = kernels::cpu;

namespace {

struct PoolWindows {
  kc::PoolAxis h, w;
};

// PyTorch's pooling_output_shape.
int64_t pooled_size(int64_t n, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  const int64_t span = n + 2 * p - k + (ceil_mode ? s - 1 : 0);
  int64_t out = (span >= 0 ? span / s : -((-span + s - 1) / s)) + 1;
  if (ceil_mode && (out - 1) * s >= n + p) --out;
  return out;
}

PoolWindows fixed_windows(const Tensor& x, const Pool2dOptions& o, const char* op) {
  PoolWindows windows;
  for (int i = 0; i < 2; ++i) {
    const int64_t k = o.kernel_size[i], s = o.stride[i] == 0 ? k : o.stride[i], p = o.padding[i];
    const int64_t n = x.size(2 + i);
    TESSERA_CHECK(k > 0 && s > 0 && p >= 0, op, ": kernel_size and stride must be positive and padding ",
                  "non-negative, got kernel ", k, ", stride ", s, ", padding ", p);
    TESSERA_CHECK(p <= k / 2, op, ": padding ", p, " must be at most half the kernel size ", k);
    const int64_t out = pooled_size(n, k, s, p, o.ceil_mode);
    TESSERA_CHECK(out > 0, op, ": input ", shape_str(x.shape()), " is too small for kernel ", k, " with padding ", p);
    (i == 0 ? windows.h : windows.w) = kc::fixed_pool_axis(n, out, k, s, p, o.count_include_pad);
  }
  return windows;
}

void check_pool_input(const Tensor& x, const char* op) {
  TESSERA_CHECK(x.dim() == 4, op, ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got ", shape_str(x.shape()));
  TESSERA_CHECK(x.is_floating_point(), op, ": expected a floating tensor, got ", dtype_name(x.dtype()));
  TESSERA_CHECK(x.size(1) > 0 && x.size(2) > 0 && x.size(3) > 0, op, ": empty spatial or channel dim in input ",
                shape_str(x.shape()));
}

kc::PoolPlanes planes_of(const Shape& shape) { return {shape[0] * shape[1], shape[2], shape[3]}; }

// Calls f.template operator()<T>() for the two kernel types.
template <typename F> void dispatch_pool(DType dtype, const char* op, F&& f) {
  dispatch_floating(dtype, op, [&]<typename T>() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) f.template operator()<T>();
  });
}

Tensor max_pool_4d(const Tensor& input, std::shared_ptr<const PoolWindows> win) {
  const Tensor x = input.detach().contiguous();
  const Shape out_shape{x.size(0), x.size(1), win->h.size(), win->w.size()};
  Tensor out = empty(out_shape, {.dtype = x.dtype()});
  Tensor idx = empty(out_shape, {.dtype = DType::i32});
  dispatch_pool(x.dtype(), "max_pool2d", [&]<typename T>() {
    kc::max_pool2d_forward<T>(planes_of(x.shape()), win->h, win->w, x.data_ptr<T>(), out.data_ptr<T>(),
                              idx.data_ptr<int32_t>());
  });
  autograd::record("MaxPool2dBackward", {input}, {out}, {idx}, [win](const Grads& g, const Grads& s, const Node& n) {
    const Tensor gy = g[0].contiguous();
    const Shape& in_shape = n.input_meta[0].shape;
    Tensor gx = empty(in_shape, {.dtype = gy.dtype()});
    dispatch_pool(gy.dtype(), "max_pool2d backward", [&]<typename T>() {
      kc::max_pool2d_backward<T>(planes_of(in_shape), win->h, win->w, gy.data_ptr<T>(), s[0].data_ptr<int32_t>(),
                                 gx.data_ptr<T>());
    });
    return Grads{gx};
  });
  return out;
}

Tensor avg_pool_4d(const Tensor& input, std::shared_ptr<const PoolWindows> win, const char* name) {
  const Tensor x = input.detach().contiguous();
  Tensor out = empty({x.size(0), x.size(1), win->h.size(), win->w.size()}, {.dtype = x.dtype()});
  dispatch_pool(x.dtype(), name, [&]<typename T>() {
    kc::avg_pool2d_forward<T>(planes_of(x.shape()), win->h, win->w, x.data_ptr<T>(), out.data_ptr<T>());
  });
  autograd::record(name, {input}, {out}, {}, [win](const Grads& g, const Grads&, const Node& n) {
    const Tensor gy = g[0].contiguous();
    const Shape& in_shape = n.input_meta[0].shape;
    Tensor gx = empty(in_shape, {.dtype = gy.dtype()});
    dispatch_pool(gy.dtype(), "avg_pool2d backward", [&]<typename T>() {
      kc::avg_pool2d_backward<T>(planes_of(in_shape), win->h, win->w, gy.data_ptr<T>(), gx.data_ptr<T>());
    });
    return Grads{gx};
  });
  return out;
}

// Runs `op` on a 4-D input of a kernel dtype: unbatched images get a batch dim, bf16/f16 go through f32.
template <typename F> Tensor pool_front(const Tensor& input, const char* name, F&& op) {
  if (detail::is_unbatched_image(input)) return pool_front(input.unsqueeze(0), name, op).squeeze(0);
  check_pool_input(input, name);
  if (detail::computes_in_f32(input.dtype())) return op(input.to(DType::f32)).to(input.dtype());
  return op(input);
}

}  // namespace

Tensor max_pool2d(const Tensor& input, Pool2dOptions options) {
  return pool_front(input, "max_pool2d", [&](const Tensor& x) {
    return max_pool_4d(x, std::make_shared<PoolWindows>(fixed_windows(x, options, "max_pool2d")));
  });
}

Tensor avg_pool2d(const Tensor& input, Pool2dOptions options) {
  return pool_front(input, "avg_pool2d", [&](const Tensor& x) {
    return avg_pool_4d(x, std::make_shared<PoolWindows>(fixed_windows(x, options, "avg_pool2d")), "AvgPool2dBackward");
  });
}

Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> output_size) {
  return pool_front(input, "adaptive_avg_pool2d", [&](const Tensor& x) {
    TESSERA_CHECK(output_size[0] > 0 && output_size[1] > 0, "adaptive_avg_pool2d: output size must be positive, got [",
                  output_size[0], ", ", output_size[1], "]");
    auto win = std::make_shared<PoolWindows>(PoolWindows{kc::adaptive_pool_axis(x.size(2), output_size[0]),
                                                         kc::adaptive_pool_axis(x.size(3), output_size[1])});
    return avg_pool_4d(x, std::move(win), "AdaptiveAvgPool2dBackward");
  });
}

}  // namespace tessera
