#pragma once
// The kernels::Backend that owns a device's memory and runs its ops. core reaches tensor bytes only through it.
#include "core/device.h"
#include "kernels/backend.h"

namespace tessera {

// Throws naming the device when this build or machine has no backend for it.
kernels::Backend& backend_of(Device device);

}  // namespace tessera
