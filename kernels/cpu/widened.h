#pragma once
// f32 stand-ins for bf16 buffers, for CPU kernels that exist in f32 only: in() widens an input (exact), out() hands
// out f32 scratch that finish() rounds once into the bf16 destination. The numbers are those of converting to f32,
// computing and converting back, as core does for a backend that does not take bf16.
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/common/dtype.h"

namespace tessera::kernels::cpu {

class Widened {
 public:
  Widened() = default;
  Widened(const Widened&) = delete;
  Widened& operator=(const Widened&) = delete;

  // Null stays null (an output nobody asked for, an absent bias).
  const float* in(const void* data, int64_t count) {
    if (data == nullptr) return nullptr;
    const auto* from = static_cast<const bf16*>(data);
    return buffers_.emplace_back(std::make_unique<std::vector<float>>(from, from + count))->data();
  }
  float* out(void* data, int64_t count) {
    if (data == nullptr) return nullptr;
    float* scratch = buffers_.emplace_back(std::make_unique<std::vector<float>>(count))->data();
    outputs_.push_back({static_cast<bf16*>(data), scratch, count});
    return scratch;
  }
  void finish() {
    for (const Output& o : outputs_)
      for (int64_t i = 0; i < o.count; ++i) o.to[i] = bf16(o.from[i]);
    outputs_.clear();
  }

 private:
  struct Output {
    bf16* to;
    const float* from;
    int64_t count;
  };
  std::vector<std::unique_ptr<std::vector<float>>> buffers_;
  std::vector<Output> outputs_;
};

}  // namespace tessera::kernels::cpu
