#pragma once
// Philox 4x32-10 (Salmon et al., SC11; the generator cuRAND and PyTorch's CUDA generator use): a counter-based
// generator, so any element of a stream can be computed on its own, on any device. Tessera's random stream for a
// seed is the sequence of 32-bit words w[j] = philox(counter = j / 4, key = seed)[j % 4]; a Generator's state is
// (seed, offset), the index of its next word. Each distribution takes a fixed number of words per element
// (random_words_per_element), so element i of a fill starting at `offset` uses words offset + i * W ... + W - 1, on
// the CPU and on a GPU alike. C++17 and host-device.
#include <cstdint>

#include "kernels/common/dtype.h"
#include "kernels/common/host_device.h"

namespace tessera::kernels {

// One Philox4x32-10 block: out = philox(counter, key). Known-answer tests: tests/kernels/test_philox.cpp.
TESSERA_HD_INLINE void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

// Word j of the stream of `seed`.
TESSERA_HD_INLINE uint32_t philox_word(uint64_t seed, uint64_t j) {
  const uint64_t block = j >> 2;
  const uint32_t counter[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u};
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  uint32_t out[4];
  philox4x32_10(counter, key, out);
  return out[j & 3];
}

// [0, 1) from one word (24 bits) or two (53 bits).
TESSERA_HD_INLINE float uniform_from_word(uint32_t w) { return static_cast<float>(w >> 8) * 0x1.0p-24f; }
TESSERA_HD_INLINE double uniform_from_words(uint32_t hi, uint32_t lo) {
  return static_cast<double>((static_cast<uint64_t>(hi) << 21) | (lo >> 11)) * 0x1.0p-53;
}

enum class RandomKind : uint8_t {
  uniform,    // in [a, b)
  normal,     // mean a, standard deviation b (Box-Muller, cosine branch, computed in f64)
  bernoulli,  // b with probability a, else 0 (dropout's scaled keep mask)
  integer,    // a + (64-bit draw mod b), for b > 0
};

struct RandomArgs {
  RandomKind kind = RandomKind::uniform;
  uint64_t seed = 0;
  uint64_t offset = 0;  // the stream word element 0 starts at
  double a = 0.0;
  double b = 1.0;
  // When set (device memory, one u64): added to offset when the fill runs. A graph captures fills with offsets
  // relative to this base and sets it before each replay, so every replay draws new numbers (core/graph.h).
  const uint64_t* offset_base = nullptr;
};

// Words each element takes: f64 uniforms 2 (53 bits), other uniforms 1 (24 bits); normals twice a uniform;
// bernoulli 1; integers 2.
TESSERA_HD_INLINE uint64_t random_words_per_element(RandomKind kind, DType dtype) {
  const uint64_t uniform = dtype == DType::f64 ? 2 : 1;
  switch (kind) {
    case RandomKind::uniform: return uniform;
    case RandomKind::normal: return 2 * uniform;
    case RandomKind::bernoulli: return 1;
    case RandomKind::integer: return 2;
  }
  return 1;
}

}  // namespace tessera::kernels
