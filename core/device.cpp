#include "core/device.h"

#include <atomic>

#include "core/check.h"

namespace tessera {

Device Device::parse(const std::string& spec) {
  if (spec == "cpu") return Device(DeviceType::cpu);
  if (spec == "cuda") return Device(DeviceType::cuda, 0);
  if (spec.rfind("cuda:", 0) == 0) {
    const std::string digits = spec.substr(5);
    TESSERA_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos,
                  "invalid device '", spec, "': expected cpu, cuda or cuda:N");
    return Device(DeviceType::cuda, std::stoi(digits));
  }
  TESSERA_THROW("invalid device '", spec, "': expected cpu, cuda or cuda:N");
}

std::string Device::str() const {
  switch (type) {
    case DeviceType::cpu: return "cpu";
    case DeviceType::cuda: return "cuda:" + std::to_string(index);
    case DeviceType::test: return "test:" + std::to_string(index);
  }
  return "?";
}

namespace {
std::atomic<Device> default_device_value{Device()};
}

Device default_device() { return default_device_value.load(std::memory_order_relaxed); }
void set_default_device(Device device) { default_device_value.store(device, std::memory_order_relaxed); }

}  // namespace tessera
