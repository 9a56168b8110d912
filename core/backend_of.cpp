#include "core/backend_of.h"

#include "core/check.h"

namespace tessera {

kernels::Backend& backend_of(Device device) {
  switch (device.type) {
    case DeviceType::cpu: return kernels::cpu_backend();
    case DeviceType::test: {
      kernels::Backend* backend = kernels::test_backend();
      TESSERA_CHECK(backend != nullptr && device.index == 0, "device ", device.str(),
                    " exists only in tests (tests/support/test_device.h installs test:0)");
      return *backend;
    }
    case DeviceType::cuda: return kernels::cuda_backend(device.index);
  }
  TESSERA_THROW("device ", device.str(), ": unknown device type");
}

void synchronize(Device device) { backend_of(device).synchronize(); }

}  // namespace tessera
