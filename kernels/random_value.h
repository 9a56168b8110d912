#pragma once
// Element i of a random fill (kernels/philox.h), the one definition every backend uses.
#include <cmath>

#include "kernels/philox.h"

namespace tessera::kernels {

TESSERA_HD_INLINE double random_value(const RandomArgs& args, DType dtype, uint64_t i) {
  const uint64_t first = args.offset + i * random_words_per_element(args.kind, dtype);
  auto uniform = [&](uint64_t j) {
    return dtype == DType::f64 ? uniform_from_words(philox_word(args.seed, j), philox_word(args.seed, j + 1))
                               : static_cast<double>(uniform_from_word(philox_word(args.seed, j)));
  };
  switch (args.kind) {
    case RandomKind::uniform: return args.a + (args.b - args.a) * uniform(first);
    case RandomKind::normal: {
      const uint64_t step = dtype == DType::f64 ? 2 : 1;
      const double u1 = 1.0 - uniform(first);  // (0, 1]: the log is finite
      const double u2 = uniform(first + step);
      return args.a + args.b * (std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2));
    }
    case RandomKind::bernoulli:
      return uniform_from_word(philox_word(args.seed, first)) < static_cast<float>(args.a) ? args.b : 0.0;
    case RandomKind::integer: {
      const uint64_t draw = (static_cast<uint64_t>(philox_word(args.seed, first)) << 32) |
                            philox_word(args.seed, first + 1);
      return args.a + static_cast<double>(draw % static_cast<uint64_t>(args.b));
    }
  }
  return 0.0;
}

}  // namespace tessera::kernels
