#pragma once
// GradScaler's arithmetic, written once for every device (PyTorch's _amp_foreach_non_finite_check_and_unscale_ and
// _amp_update_scale_ kernels, term for term). C++17, host-device.
#include <cstdint>

#include "kernels/backend.h"
#include "kernels/common/host_device.h"

namespace tessera::kernels {

// The factor unscale_gradients multiplies by: 1 / scale, rounded once to f32, as PyTorch's
// scale.double().reciprocal().float() (exact for the powers of two a scale usually is).
TESSERA_HD_INLINE float inverse_loss_scale(float scale) { return static_cast<float>(1.0 / static_cast<double>(scale)); }

// A gradient element unscaled; `found` is set when it was inf or NaN before (g - g is 0 exactly for finite g).
template <typename T>
TESSERA_HD_INLINE T unscale_element(T g, T inverse, bool& found) {
  if (!(g - g == T(0))) found = true;
  return g * inverse;
}

// update_loss_scale's rule (kernels/backend.h), on values the caller loaded and stores back.
TESSERA_HD_INLINE void update_loss_scale_rule(float& scale, int32_t& growth_tracker, float& found_inf,
                                              const LossScaleUpdate& rule) {
  if (found_inf != 0.0f) {
    scale = static_cast<float>(static_cast<double>(scale) * rule.backoff_factor);
    growth_tracker = 0;
  } else if (growth_tracker + 1 == rule.growth_interval) {
    const float grown = static_cast<float>(static_cast<double>(scale) * rule.growth_factor);
    if (grown - grown == 0.0f) scale = grown;  // a scale that would overflow f32 stays where it is
    growth_tracker = 0;
  } else {
    ++growth_tracker;
  }
  found_inf = 0.0f;
}

}  // namespace tessera::kernels
