#include "core/optim/clip_grad.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "kernels/cpu/parallel.h"

namespace tessera::optim {

namespace {
// Elements per partial sum. Partials are combined in block order, so the norm does not depend on the thread count
// or on timing (every data-parallel rank computes the same value from the same gradients).
constexpr int64_t kNormBlock = 32768;

enum class NormKind { one, two, inf, general };

// Sum of |x|^p (or max |x|) over [begin, end), in double; the kind is a template argument so the loop has no
// branches.
template <NormKind kKind, typename T>
double block_norm(const T* data, int64_t begin, int64_t end, double p) {
  double part = 0.0;
  for (int64_t k = begin; k < end; ++k) {
    const double a = std::abs(static_cast<double>(static_cast<acc_t<T>>(data[k])));
    if constexpr (kKind == NormKind::two) part += a * a;
    else if constexpr (kKind == NormKind::one) part += a;
    else if constexpr (kKind == NormKind::inf) part = std::max(part, a);
    else part += std::pow(a, p);
  }
  return part;
}

// Sum of |g|^p (or max |g| when p is infinite) over one gradient, accumulated in double.
double norm_part(const Tensor& grad, double p) {
  const Tensor g = grad.contiguous();
  const NormKind kind = std::isinf(p) ? NormKind::inf : p == 2.0 ? NormKind::two : p == 1.0 ? NormKind::one
                                                                                            : NormKind::general;
  const int64_t n = g.numel();
  const int64_t blocks = (n + kNormBlock - 1) / kNormBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  dispatch_floating(g.dtype(), "clip_grad_norm_", [&]<typename T>() {
    const T* data = g.data_ptr<T>();
    kernels::cpu::parallel_for(blocks, 1, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b) {
        const int64_t begin = b * kNormBlock, end = std::min(n, begin + kNormBlock);
        double& part = partial[static_cast<size_t>(b)];
        switch (kind) {
          case NormKind::two: part = block_norm<NormKind::two>(data, begin, end, p); break;
          case NormKind::one: part = block_norm<NormKind::one>(data, begin, end, p); break;
          case NormKind::inf: part = block_norm<NormKind::inf>(data, begin, end, p); break;
          case NormKind::general: part = block_norm<NormKind::general>(data, begin, end, p); break;
        }
      }
    });
  });
  double total = 0.0;
  for (double part : partial) total = kind == NormKind::inf ? std::max(total, part) : total + part;
  return total;
}
}  // namespace

double grad_norm(const std::vector<Tensor>& params, double norm_type) {
  TESSERA_CHECK(norm_type > 0.0, "grad_norm: norm_type must be positive, got ", norm_type);
  const bool inf = std::isinf(norm_type);
  double total = 0.0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const double part = norm_part(g, norm_type);
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
