#pragma once
// The kinds of device a tensor can live on. `test` is host memory behind a guard that only tests create
// (tests/support/test_device.h): it stands in for a GPU in CI, so any host access to its buffers outside a backend
// fails loudly.
#include <cstdint>

namespace tessera {

enum class DeviceType : uint8_t { cpu, cuda, test };

}  // namespace tessera
