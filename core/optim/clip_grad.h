#pragma once
// Gradient clipping by global norm, like torch.nn.utils.clip_grad_norm_ (PyTorch 1.13).
#include <limits>
#include <vector>

#include "core/tensor.h"

namespace tessera::optim {

// The norm of all gradients together (parameters without a gradient are ignored): (sum |g|^p)^(1/p), or max |g|
// for norm_type = infinity. Every gradient is scaled in place by min(1, max_norm / (total_norm + 1e-6)), so a
// NaN or infinite norm makes them NaN or zero, as in PyTorch. Returns the total norm before clipping (0 when no
// parameter has a gradient). error_if_nonfinite: a NaN or infinite total norm is an error instead, and nothing is
// scaled. The gradients must share one device.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
// The same, leaving the total norm on the gradients' device as a 0-d f64 tensor: nothing waits on the host, so a
// GPU step goes on (and can be captured in a graph). Model::fit clips this way.
Tensor clip_grad_norm_on_device_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0);

// The total norm alone, without clipping.
double grad_norm(const std::vector<Tensor>& params, double norm_type = 2.0);
Tensor grad_norm_on_device(const std::vector<Tensor>& params, double norm_type = 2.0);

// The norm of any tensors taken together, as torch.nn.utils.get_total_norm: a 0-d f64 tensor on their device (they
// must share one), 0 for none. Each tensor is reduced where it lies, without a temporary of its size; for
// norm_type = infinity a NaN anywhere makes the norm NaN.
Tensor get_total_norm(const std::vector<Tensor>& tensors, double norm_type = 2.0);

inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

}  // namespace tessera::optim
