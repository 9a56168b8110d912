#pragma once
// Internal helpers shared by the indexing, softmax and loss ops (not part of the public API):
//  - DimLayout views a contiguous tensor as (outer, size, inner) around one dim, the layout every kernel here
//    walks: element (o, k, i) sits at (o * size + k) * inner + i;
//  - index_as_i64() turns a user index tensor into a contiguous i64 tensor on its device; the indexing ops pass it
//    to a backend entry, which checks the values (kernels/index_args.h), so the host never reads them.
#include <optional>
#include <string>

#include "core/tensor.h"

namespace tessera::detail {

struct DimLayout {
  int64_t outer = 1;
  int64_t size = 1;
  int64_t inner = 1;
};

inline DimLayout dim_layout(const Shape& shape, int64_t dim) {
  DimLayout layout;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) layout.outer *= shape[d];
    else if (d == dim) layout.size = shape[d];
    else layout.inner *= shape[d];
  }
  return layout;
}

// A contiguous i64 copy (or alias) of `index`, detached. Errors when `index` is not an integer tensor.
Tensor index_as_i64(const Tensor& index, const char* op, const char* what = "index");

// Checks every value v of a contiguous i64 CPU tensor (a host read: the loss ops use it until they move behind the
// backend): 0 <= v < size, or v == allowed (ignore_index). The error
// reads "<op>: <what> <v> (at position <p>) is out of range for <context>", where context names the size
// ("dimension 1 with size 5"). Returns how many values are not `allowed`.
int64_t check_index_range(const Tensor& index_i64, int64_t size, const char* op, const char* what,
                          const std::string& context, std::optional<int64_t> allowed = std::nullopt);

}  // namespace tessera::detail
