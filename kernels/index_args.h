#pragma once
// The arguments of the indexing entries (index_select, gather, scatter_add, one_hot): index buffers are contiguous
// i64 in the backend's memory, and each entry checks its own indices before it touches anything, so the host
// never reads an index. Fixed-size, C++17, so a CUDA kernel can take them by value.
//
// Bad indices: the CPU throws tessera::Error "<op>: <what> <v> (at position <p>) is out of range for <context>"
// (p is the flat position in the index buffer, the first bad one). A CUDA backend checks on the device instead:
// the kernel records the first bad (value, position) in a device flag and skips the access, and the backend
// raises the same error when the host next synchronises with that stream (reading the flag is the only sync).
#include <cstdint>

namespace tessera::kernels {

struct IndexBounds {
  int64_t size = 0;             // valid indices are [0, size)
  const char* op = "";          // these three name a bad index in the error; host strings, read on the host only
  const char* what = "index";
  const char* context = "";     // names the size: "dimension 1 with size 5", "10 embeddings (weight of shape ...)"
};

// A contiguous tensor seen as (outer, size, inner) around one dim: element (o, k, i) is at (o * size + k) * inner + i.
struct RowLayout {
  int64_t outer = 1;
  int64_t size = 1;
  int64_t inner = 1;
};

}  // namespace tessera::kernels
