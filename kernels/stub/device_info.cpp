#include "kernels/backend.h"
#include "kernels/device_info.h"

namespace tessera::kernels {

bool cuda_compiled() { return false; }
int cuda_device_count() { return 0; }
std::string cuda_unavailable_reason() {
  return "this build of Tessera has no CUDA path (built with TESSERA_CUDA=OFF or without nvcc, cuDNN or NCCL)";
}
bool cuda_fill_roundtrip(int, float) { return false; }
std::string cuda_pci_bus_id(int) { return ""; }
std::string cuda_library_versions() { return "none: built without CUDA (TESSERA_CUDA=OFF, or nvcc/cuDNN/NCCL not found)"; }

Backend& cuda_backend(int device) {
  TESSERA_THROW("cuda:", device, " requested, but this build of Tessera has no CUDA path (built with TESSERA_CUDA=OFF "
                "or without nvcc, cuDNN or NCCL)");
}

}  // namespace tessera::kernels
