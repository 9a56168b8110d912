// Invariant: the norm is combined on the gradients' device. Each gradient's sum |g|^p (Backend::norm_power_sum, f64,
// independent of the thread count) lands in one element of a device tensor; the sum (or max), the root and the
// clipping coefficient are device ops too, so clipping queues work and never waits for it.
#include "core/optim/clip_grad.h"

#include <cmath>

#include "core/autograd/grad_mode.h"
#include "core/backend_of.h"
#include "core/ops/factory.h"
#include "core/ops/pointwise.h"
#include "core/ops/reduce.h"

namespace tessera::optim {

namespace {

std::vector<Tensor> gradients_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  return grads;
}

// Every gradient times min(1, max_norm / (total + 1e-6)), PyTorch's clip_coef_clamped.
void scale_by_norm(const std::vector<Tensor>& grads, const Tensor& total, double max_norm) {
  NoGradGuard no_grad;
  const Tensor coef = clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);
  for (Tensor g : grads) g.mul_(coef.to(g.dtype()));
}

}  // namespace

Tensor get_total_norm(const std::vector<Tensor>& tensors, double norm_type) {
  TESSERA_CHECK(norm_type > 0.0, "get_total_norm: norm_type must be positive, got ", norm_type);
  if (tensors.empty()) return scalar_tensor(0.0, {.dtype = DType::f64, .device = Device()});  // no device to name
  const Device device = tensors.front().device();
  NoGradGuard no_grad;
  Tensor partial = empty({static_cast<int64_t>(tensors.size())}, {.dtype = DType::f64, .device = device});
  auto* sums = static_cast<double*>(partial.raw_data());
  kernels::Backend& backend = backend_of(device);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    TESSERA_CHECK(t.device() == device, "get_total_norm: tensors on ", device.str(), " and ", t.device().str(),
                  " (take the norm of each device's tensors separately)");
    const Tensor contiguous = t.contiguous();
    backend.norm_power_sum(t.dtype(), contiguous.raw_data(), t.numel(), norm_type, sums + i);
  }
  partial.bump_version();
  if (std::isinf(norm_type)) return max(partial);
  return pow(sum(partial), 1.0 / norm_type);
}

Tensor grad_norm_on_device(const std::vector<Tensor>& params, double norm_type) {
  return get_total_norm(gradients_of(params), norm_type);
}

double grad_norm(const std::vector<Tensor>& params, double norm_type) {
  return grad_norm_on_device(params, norm_type).item<double>();
}

Tensor clip_grad_norm_on_device_(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  const std::vector<Tensor> grads = gradients_of(params);
  const Tensor total = get_total_norm(grads, norm_type);
  scale_by_norm(grads, total, max_norm);
  return total;
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  const std::vector<Tensor> grads = gradients_of(params);
  const Tensor total = get_total_norm(grads, norm_type);
  const double value = total.item<double>();
  TESSERA_CHECK(!error_if_nonfinite || std::isfinite(value), "clip_grad_norm_: the total norm of order ", norm_type,
                " of the gradients is non-finite (", value, "), so it cannot be clipped");
  scale_by_norm(grads, total, max_norm);
  return value;
}

}  // namespace tessera::optim
