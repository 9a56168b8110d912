#pragma once
// Elementwise iteration over K operands that share one shape but have their own byte strides (0 for broadcast
// dims). Dimensions that are contiguous for every operand are merged, the innermost dimension becomes a tight
// loop `inner(ptrs, strides, n)`, and outer rows are split across threads.
#include <array>
#include <cstdint>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace tessera::kernels::cpu {

template <size_t K>
struct StridedOperands {
  std::vector<int64_t> shape;                          // iteration shape
  std::array<std::vector<int64_t>, K> byte_strides;    // per operand, same length as shape
  std::array<char*, K> data;                           // element 0 of each operand
};

// Merges adjacent dims i-1, i when every operand steps over dim i exactly as over one row of dim i-1, and drops
// size-1 dims. Leaves at least one dim.
template <size_t K>
void coalesce(StridedOperands<K>& ops) {
  std::vector<int64_t> shape;
  std::array<std::vector<int64_t>, K> strides;
  for (size_t d = 0; d < ops.shape.size(); ++d) {
    if (ops.shape[d] == 1) continue;
    if (!shape.empty()) {
      bool mergeable = true;
      for (size_t k = 0; k < K; ++k)
        mergeable = mergeable && strides[k].back() == ops.byte_strides[k][d] * ops.shape[d];
      if (mergeable) {
        shape.back() *= ops.shape[d];
        for (size_t k = 0; k < K; ++k) strides[k].back() = ops.byte_strides[k][d];
        continue;
      }
    }
    shape.push_back(ops.shape[d]);
    for (size_t k = 0; k < K; ++k) strides[k].push_back(ops.byte_strides[k][d]);
  }
  if (shape.empty()) {
    shape.push_back(1);
    for (size_t k = 0; k < K; ++k) strides[k].push_back(0);
  }
  ops.shape = std::move(shape);
  ops.byte_strides = std::move(strides);
}

// inner(std::array<char*, K> ptrs, std::array<int64_t, K> strides, int64_t n) processes n elements of one row.
template <size_t K, typename Inner>
void strided_for_each(StridedOperands<K> ops, Inner&& inner, int64_t grain = 32768) {
  coalesce(ops);
  const size_t ndim = ops.shape.size();
  const int64_t row = ops.shape[ndim - 1];
  std::array<int64_t, K> inner_strides;
  for (size_t k = 0; k < K; ++k) inner_strides[k] = ops.byte_strides[k][ndim - 1];
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < ndim; ++d) rows *= ops.shape[d];
  if (rows == 0 || row == 0) return;

  if (rows == 1) {  // one long row: split it instead
    parallel_for(row, grain, [&](int64_t begin, int64_t end) {
      std::array<char*, K> p;
      for (size_t k = 0; k < K; ++k) p[k] = ops.data[k] + begin * inner_strides[k];
      inner(p, inner_strides, end - begin);
    });
    return;
  }
  const int64_t row_grain = std::max<int64_t>(1, grain / row);
  parallel_for(rows, row_grain, [&](int64_t begin, int64_t end) {
    // Multi-index of row `begin` over the outer dims, then step it like an odometer.
    std::vector<int64_t> index(ndim - 1, 0);
    int64_t rest = begin;
    for (size_t d = ndim - 1; d-- > 0;) {
      index[d] = rest % ops.shape[d];
      rest /= ops.shape[d];
    }
    std::array<char*, K> p;
    for (size_t k = 0; k < K; ++k) {
      p[k] = ops.data[k];
      for (size_t d = 0; d + 1 < ndim; ++d) p[k] += index[d] * ops.byte_strides[k][d];
    }
    for (int64_t r = begin; r < end; ++r) {
      inner(p, inner_strides, row);
      for (size_t d = ndim - 1; d-- > 0;) {
        for (size_t k = 0; k < K; ++k) p[k] += ops.byte_strides[k][d];
        if (++index[d] < ops.shape[d]) break;
        for (size_t k = 0; k < K; ++k) p[k] -= ops.byte_strides[k][d] * ops.shape[d];
        index[d] = 0;
      }
    }
  });
}

}  // namespace tessera::kernels::cpu
