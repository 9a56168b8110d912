#pragma once
// One State per GPU for a library's handle (cuBLASLt, cuDNN): created on first use by State's constructor, never
// destroyed. Tensors, and so library calls, may outlive main; destroying a handle after the CUDA runtime has torn
// down crashes at exit. The caller makes the device current first (CudaBackend::stream() does), since handles bind
// to the device current at creation.
#include <mutex>

#include "kernels/cuda/stream.h"

namespace tessera::kernels::cuda {

template <typename State>
State& per_device(int device) {
  static std::once_flag once[kMaxDevices];
  static State* states[kMaxDevices] = {};
  std::call_once(once[device], [device] { states[device] = new State(); });  // a throwing constructor: retried
  return *states[device];
}

}  // namespace tessera::kernels::cuda
