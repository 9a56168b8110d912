#pragma once
// Where a tensor's storage lives: the CPU, a GPU (cuda:N), or the test device (tests only; see
// kernels/common/device_type.h). Each has one kernels::Backend (core/backend_of.h).
#include <cstdint>
#include <string>

#include "kernels/common/device_type.h"

namespace tessera {

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  Device() = default;
  Device(DeviceType t, int i = 0) : type(t), index(i) {}  // NOLINT(google-explicit-constructor)
  Device(const char* spec) : Device(parse(spec)) {}        // NOLINT: "cpu", "cuda", "cuda:1"
  Device(const std::string& spec) : Device(parse(spec)) {} // NOLINT
  static Device parse(const std::string& spec);

  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool is_test() const { return type == DeviceType::test; }
  std::string str() const;
  bool operator==(const Device&) const = default;
};

// The device factories use when the caller names none (TensorOptions::device), as torch.set_default_device: the
// CPU unless changed. Library code never relies on it: ops allocate on their inputs' device, and a check keeps
// core's own TensorOptions explicit (tests/core/check_explicit_devices.sh).
Device default_device();
void set_default_device(Device device);

}  // namespace tessera
