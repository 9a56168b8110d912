#pragma once
// IntPair: a (height, width) pair for 2-D layer options that also accepts a single int for both, so options read
// like PyTorch's: `.kernel_size = 3` or `.kernel_size = {3, 5}`.
#include <array>
#include <cstdint>
#include <string>

namespace tessera::nn {

struct IntPair {
  int64_t h = 0;
  int64_t w = 0;
  IntPair() = default;
  IntPair(int64_t both) : h(both), w(both) {}  // NOLINT(google-explicit-constructor): `.stride = 2`
  IntPair(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  std::array<int64_t, 2> array() const { return {h, w}; }
  bool operator==(const IntPair&) const = default;
  std::string str() const { return "(" + std::to_string(h) + ", " + std::to_string(w) + ")"; }
};

}  // namespace tessera::nn
