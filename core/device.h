#pragma once
// Where a tensor's storage lives. CUDA storage arrives with the CUDA issue; the type is in the API now so that
// code written against it does not change.
#include <cstdint>
#include <string>

namespace tessera {

enum class DeviceType : uint8_t { cpu, cuda };

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
  std::string str() const;
  bool operator==(const Device&) const = default;
};

}  // namespace tessera
