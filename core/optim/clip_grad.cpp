#include "core/optim/clip_grad.h"

#include <algorithm>
#include <cmath>

#include "core/autograd/grad_mode.h"
#include "core/backend_of.h"

namespace tessera::optim {

double grad_norm(const std::vector<Tensor>& params, double norm_type) {
  TESSERA_CHECK(norm_type > 0.0, "grad_norm: norm_type must be positive, got ", norm_type);
  const bool inf = std::isinf(norm_type);
  double total = 0.0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const Tensor contiguous = g.contiguous();
    const double part = backend_of(g.device()).norm_power_sum(g.dtype(), contiguous.raw_data(), g.numel(), norm_type);
    total = inf ? std::max(total, part) : total + part;
  }
  return inf ? total : std::pow(total, 1.0 / norm_type);
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  const double total = grad_norm(params, norm_type);
  TESSERA_CHECK(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm_: the total norm of order ", norm_type,
                " of the gradients is non-finite (", total, "), so it cannot be clipped");
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {  // PyTorch multiplies by min(coef, 1): scaling by 1 changes nothing
    NoGradGuard no_grad;
    for (const Tensor& p : params) {
      Tensor g = p.grad();
      if (g.defined()) g.mul_(coef);
    }
  }
  return total;
}

}  // namespace tessera::optim
