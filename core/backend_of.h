#pragma once
// The kernels::Backend that owns a device's memory and runs its ops. core reaches tensor bytes only through it.
#include "core/device.h"
#include "kernels/backend.h"

namespace tessera {

// Throws naming the device when this build or machine has no backend for it.
kernels::Backend& backend_of(Device device);

// Waits until the device has run everything queued on the calling thread's stream (torch.cuda.synchronize), and
// raises any error its kernels reported meanwhile: a GPU checks indices on the device and reports a bad one at the
// next synchronisation. Returns at once on the CPU.
void synchronize(Device device = default_device());

}  // namespace tessera
