#pragma once
// The CPU's index check (kernels/index_args.h): throws naming the first index outside [0, bounds.size), other than
// `allowed` (a class loss's ignore_index), before any entry reads through an index.
#include <cstdint>
#include <optional>

#include "kernels/common/check.h"
#include "kernels/index_args.h"

namespace tessera::kernels::cpu {

inline void check_indices(const int64_t* index, int64_t n, const IndexBounds& bounds,
                          std::optional<int64_t> allowed = std::nullopt) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = index[i];
    if (static_cast<uint64_t>(v) < static_cast<uint64_t>(bounds.size) || (allowed && v == *allowed)) continue;
    TESSERA_THROW(bounds.op, ": ", bounds.what, " ", v, " (at position ", i, ") is out of range for ",
                  bounds.context);
  }
}

}  // namespace tessera::kernels::cpu
