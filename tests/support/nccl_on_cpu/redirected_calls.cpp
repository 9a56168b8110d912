// What distributed/nccl's sources, built over the CPU build of the CUDA backend, call by the names redirect.h gives
// them and that is defined nowhere else.
#include <cuda_runtime.h>

#include "distributed/bootstrap.h"
#include "tests/support/cuda_on_cpu/runtime_table.h"

namespace tessera::dist {

const World& nccl_on_cpu_world() {
  static const World with_gpu = [] {
    World w = world();
    w.device = 0;  // the one device of the CPU build's runtime
    return w;
  }();
  return with_gpu;
}

}  // namespace tessera::dist

namespace tessera::kernels::cuda {

cudaStream_t current_stream_on_cpu(int device) { return tessera_cuda_on_cpu_runtime()->current_stream(device); }

}  // namespace tessera::kernels::cuda
