#pragma once
// Gradient clipping by global norm, like torch.nn.utils.clip_grad_norm_ (PyTorch 1.13).
#include <limits>
#include <vector>

#include "core/tensor.h"

namespace tessera::optim {

// The norm of all gradients together (parameters without a gradient are ignored): (sum |g|^p)^(1/p), or max |g|
// for norm_type = infinity. When it exceeds max_norm, every gradient is scaled in place by
// max_norm / (total_norm + 1e-6). Returns the total norm before clipping (0 when no parameter has a gradient).
// error_if_nonfinite: a NaN or infinite total norm is an error instead.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// The total norm alone, without clipping.
double grad_norm(const std::vector<Tensor>& params, double norm_type = 2.0);

inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

}  // namespace tessera::optim
