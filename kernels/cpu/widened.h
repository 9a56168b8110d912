#pragma once
// f32 stand-ins for bf16 buffers, for CPU kernels that exist in f32 only: in() widens an input (exact), out() hands
// out f32 scratch that finish() rounds once into the bf16 destination; widen() and narrow() are those two loops.
// The numbers are those of converting to f32, computing and converting back, as core does for a backend that does
// not take bf16.
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/common/dtype.h"

namespace tessera::kernels::cpu {

inline void widen(const bf16* from, float* to, int64_t n) {  // exact
  for (int64_t i = 0; i < n; ++i) to[i] = static_cast<float>(from[i]);
}
inline void narrow(const float* from, bf16* to, int64_t n) {  // rounded once, a NaN made quiet, as the f32 route
  for (int64_t i = 0; i < n; ++i) to[i] = bf16(from[i]);
}

class Widened {
 public:
  Widened() = default;
  Widened(const Widened&) = delete;
  Widened& operator=(const Widened&) = delete;

  // Null stays null (an output nobody asked for, an absent bias).
  const float* in(const void* data, int64_t count) {
    if (data == nullptr) return nullptr;
    float* copy = scratch(count);
    widen(static_cast<const bf16*>(data), copy, count);
    return copy;
  }
  float* out(void* data, int64_t count) {  // not initialised: the f32 kernels overwrite their outputs
    if (data == nullptr) return nullptr;
    float* result = scratch(count);
    outputs_.push_back({static_cast<bf16*>(data), result, count});
    return result;
  }
  void finish() {
    for (const Output& o : outputs_) narrow(o.from, o.to, o.count);
    outputs_.clear();
  }

 private:
  struct Output {
    bf16* to;
    const float* from;
    int64_t count;
  };
  float* scratch(int64_t count) {
    return buffers_.emplace_back(new float[static_cast<size_t>(count)]).get();
  }
  std::vector<std::unique_ptr<float[]>> buffers_;
  std::vector<Output> outputs_;
};

}  // namespace tessera::kernels::cpu
