#pragma once
// Internal: formatting helpers for layers' extra_repr() (PyTorch-like "name=value" lists).
#include <cstdint>
#include <sstream>
#include <string>

namespace tessera::nn::detail {

inline std::string repr_value(bool v) { return v ? "true" : "false"; }
inline std::string repr_value(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}
inline std::string repr_value(int64_t v) { return std::to_string(v); }
inline std::string repr_value(int v) { return std::to_string(v); }
inline std::string repr_value(const std::string& v) { return v; }
inline std::string repr_value(const char* v) { return v; }
template <typename T> std::string repr_value(const T& v) { return v.str(); }

}  // namespace tessera::nn::detail
