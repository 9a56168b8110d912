#pragma once
// The tensors a piece of code allocates on the default device (its backend's allocate() calls, from the memory
// statistics), for tests that an op works in place.
#include <cstddef>
#include <functional>

#include "core/backend_of.h"
#include "core/core.h"

namespace tessera::testing {

inline size_t allocations_of(const std::function<void()>& fn) {
  kernels::Backend& backend = backend_of(default_device());
  const size_t before = backend.memory_stats().allocation_count;
  fn();
  return backend.memory_stats().allocation_count - before;
}

}  // namespace tessera::testing
