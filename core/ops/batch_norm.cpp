// batch_norm over x viewed as (N, C, S), S the product of the trailing dims. Per channel:
//   training: mean and biased variance of the batch normalise; running_var gets the unbiased variance
//             (momentum as PyTorch: r = (1 - m) r + m batch), written in place without autograd, version bumped;
//   eval:     the running statistics normalise.
// The front end checks shapes, computes bf16/f16 in f32 and returns the input's dtype (under autocast too, as in
// PyTorch, where batch_norm is on no autocast list: a bf16 activation stays bf16 into the next convolution),
// updates the running statistics with elementwise ops and records autograd; the loops are the backend's batch_norm
// entries (kernels/cpu/norm.cpp). Statistics, weight and bias reach the backend as f64 tensors on the input's
// device (C values each); the saved mean/invstd are f64.
#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/backend_of.h"
#include "core/ops/elementwise.h"
#include "core/ops/factory.h"
#include "core/ops/nn_common.h"
#include "core/ops/nn_functional.h"

namespace tessera {

using autograd::Node;
using Grads = std::vector<Tensor>;
using kernels::ReduceShape;

namespace {

void check_channel_tensor(const Tensor& t, int64_t c, const char* what) {
  if (t.defined())
    TESSERA_CHECK(t.dim() == 1 && t.size(0) == c, "batch_norm: ", what, " of shape ", shape_str(t.shape()),
                  " does not match ", c, " channels");
}

// An optional (C) tensor as a new f64 tensor (never an alias, so later in-place updates of it cannot change what
// was saved); undefined stays undefined.
Tensor f64_copy(const Tensor& t) {
  if (!t.defined()) return t;
  return t.dtype() == DType::f64 ? t.detach().clone() : t.detach().to(DType::f64);
}

const double* f64_data(const Tensor& t) { return t.defined() ? static_cast<const double*>(t.raw_data()) : nullptr; }
double* f64_out(const Tensor& t) { return static_cast<double*>(t.raw_data()); }

ReduceShape channel_layout(const Tensor& x) {
  return {.outer = x.size(0), .n = x.size(1),
          .inner = x.numel() / std::max<int64_t>(x.size(0) * x.size(1), 1)};
}

Grads batch_norm_backward(const Tensor& gy_in, const Tensor& x, const Tensor& weight, const Tensor& mean,
                          const Tensor& invstd, bool training, const Node& n) {
  const Tensor gy = gy_in.to(x.dtype()).contiguous();
  const Device device = detail::common_device("batch_norm backward", {&gy, &x});
  const ReduceShape l = channel_layout(x);
  const TensorOptions f64{.dtype = DType::f64, .device = device};
  Tensor sum_gy = empty({l.n}, f64), sum_gy_xhat = empty({l.n}, f64);
  Tensor gx = n.needs_input_grad(0) ? empty(x.shape(), {.dtype = x.dtype(), .device = device}) : Tensor();
  const Tensor w = f64_copy(weight);
  backend_of(device).batch_norm_backward(x.raw_data(), gy.raw_data(), gx.defined() ? gx.raw_data() : nullptr,
                                         x.dtype(), l, f64_data(w), f64_data(mean), f64_data(invstd), training,
                                         f64_out(sum_gy), f64_out(sum_gy_xhat));
  Grads grads(3);
  grads[0] = gx;
  if (n.needs_input_grad(1)) grads[1] = sum_gy_xhat.to(n.input_meta[1].dtype);
  if (n.needs_input_grad(2)) grads[2] = sum_gy.to(n.input_meta[2].dtype);
  return grads;
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  TESSERA_CHECK(input.dim() >= 2, "batch_norm: expected an input of at least 2 dims (N, C, ...), got ",
                shape_str(input.shape()));
  TESSERA_CHECK(input.is_floating_point(), "batch_norm: expected a floating input, got ", dtype_name(input.dtype()));
  const int64_t channels = input.size(1);
  check_channel_tensor(running_mean, channels, "running_mean");
  check_channel_tensor(running_var, channels, "running_var");
  check_channel_tensor(weight, channels, "weight");
  check_channel_tensor(bias, channels, "bias");
  TESSERA_CHECK(training || (running_mean.defined() && running_var.defined()),
                "batch_norm: eval mode needs running_mean and running_var");
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined()) detail::common_device("batch_norm", {&input, t});
  if (detail::computes_in_f32(input.dtype()))
    return batch_norm(input.to(DType::f32), running_mean, running_var, detail::to_if_defined(weight, DType::f32),
                      detail::to_if_defined(bias, DType::f32), training, momentum, eps)
        .to(input.dtype());

  const Tensor x = input.detach().contiguous();
  const Device device = x.device();
  const ReduceShape l = channel_layout(x);
  TESSERA_CHECK(!training || l.outer * l.inner > 1, "batch_norm: expected more than 1 value per channel when ",
                "training, got input of shape ", shape_str(input.shape()),
                input.dim() >= 1 && input.size(0) == 1
                    ? " (a batch of one sample: batch_size 1, or an epoch's last, partial batch; choose a batch "
                      "size that leaves no batch of one, or drop the short batch: data.drop_last in a config)"
                    : "");
  kernels::Backend& backend = backend_of(device);
  const TensorOptions f64{.dtype = DType::f64, .device = device};
  Tensor mean, var;
  if (training) {
    mean = empty({channels}, f64);
    var = empty({channels}, f64);
    Tensor unbiased = empty({channels}, f64);
    backend.batch_norm_stats(x.raw_data(), x.dtype(), l, f64_out(mean), f64_out(var), f64_out(unbiased));
    if (running_mean.defined() && running_var.defined()) {
      NoGradGuard no_grad;
      running_mean.detach().mul_(1.0 - momentum).add_(mean.to(running_mean.dtype()), momentum);
      running_var.detach().mul_(1.0 - momentum).add_(unbiased.to(running_var.dtype()), momentum);
    } else {
      TESSERA_CHECK(!running_mean.defined() && !running_var.defined(),
                    "batch_norm: give both running_mean and running_var, or neither");
    }
  } else {
    mean = f64_copy(running_mean);
    var = f64_copy(running_var);
  }
  const Tensor w = f64_copy(weight), b = f64_copy(bias);
  Tensor invstd = empty({channels}, f64);
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = device});
  backend.batch_norm(x.raw_data(), out.raw_data(), x.dtype(), l, f64_data(mean), f64_data(var), f64_data(w),
                     f64_data(b), eps, f64_out(invstd));
  const Tensor saved_weight = weight.defined() ? weight.detach() : Tensor();
  autograd::record("BatchNormBackward", {input, weight, bias}, {out}, {x, saved_weight, mean, invstd},
                   [training](const Grads& g, const Grads& s, const Node& n) {
    return batch_norm_backward(g[0], s[0], s[1], s[2], s[3], training, n);
  });
  return out;
}

}  // namespace tessera
