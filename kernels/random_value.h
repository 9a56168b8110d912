#pragma once
// Element i of a random fill (kernels/philox.h), the one definition every backend uses.
#include <cmath>

#include "kernels/philox.h"

namespace tessera::kernels {

// Element i of a fill of kind kKind; words(j) returns stream word j (philox_word(args.seed, j), possibly from a
// cached block). The kind is a template argument so a fill loop carries no switch per element.
template <RandomKind kKind, typename Words>
TESSERA_HD_INLINE double random_value(const RandomArgs& args, DType dtype, uint64_t i, Words&& words) {
  const uint64_t first = args.offset + i * random_words_per_element(kKind, dtype);
  auto uniform = [&](uint64_t j) {
    return dtype == DType::f64 ? uniform_from_words(words(j), words(j + 1))
                               : static_cast<double>(uniform_from_word(words(j)));
  };
  if constexpr (kKind == RandomKind::uniform) {
    return args.a + (args.b - args.a) * uniform(first);
  } else if constexpr (kKind == RandomKind::normal) {
    const uint64_t step = dtype == DType::f64 ? 2 : 1;
    const double u1 = 1.0 - uniform(first);  // (0, 1]: the log is finite
    const double u2 = uniform(first + step);
    return args.a + args.b * (std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2));
  } else if constexpr (kKind == RandomKind::bernoulli) {
    return uniform_from_word(words(first)) < static_cast<float>(args.a) ? args.b : 0.0;
  } else {
    const uint64_t draw = (static_cast<uint64_t>(words(first)) << 32) | words(first + 1);
    return args.a + static_cast<double>(draw % static_cast<uint64_t>(args.b));
  }
}

// Calls f.template operator()<kKind>() for the runtime kind.
template <typename F>
void dispatch_random_kind(RandomKind kind, F&& f) {
  switch (kind) {
    case RandomKind::uniform: return f.template operator()<RandomKind::uniform>();
    case RandomKind::normal: return f.template operator()<RandomKind::normal>();
    case RandomKind::bernoulli: return f.template operator()<RandomKind::bernoulli>();
    case RandomKind::integer: return f.template operator()<RandomKind::integer>();
  }
}

// Stream words of one seed with the last Philox block kept: consecutive words cost one block per four.
class PhiloxBlockCache {
 public:
  explicit PhiloxBlockCache(uint64_t seed) : key_{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)} {}
  uint32_t operator()(uint64_t j) {
    const uint64_t block = j >> 2;
    if (block != block_) {
      const uint32_t counter[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u};
      philox4x32_10(counter, key_, words_);
      block_ = block;
    }
    return words_[j & 3];
  }

 private:
  uint32_t key_[2];
  uint32_t words_[4] = {};
  uint64_t block_ = ~uint64_t{0};
};

}  // namespace tessera::kernels
