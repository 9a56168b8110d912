#include "kernels/device_info.h"

namespace tessera::kernels {

bool cuda_compiled() { return false; }
int cuda_device_count() { return 0; }
bool cuda_fill_roundtrip(int, float) { return false; }

}  // namespace tessera::kernels
