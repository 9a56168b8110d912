#pragma once
// Internal helpers shared by the conv, pool and normalisation front ends (not public API).
#include "core/tensor.h"

namespace tessera::detail {

// bf16/f16 inputs run these ops in f32 (as PyTorch's CPU kernels accumulate in float) and convert back.
inline bool computes_in_f32(DType dtype) { return dtype == DType::bf16 || dtype == DType::f16; }
inline Tensor to_if_defined(const Tensor& t, DType dtype) { return t.defined() ? t.to(dtype) : t; }

// A (C, H, W) image as a batch of one, so 2-D ops can accept unbatched input as PyTorch does.
inline bool is_unbatched_image(const Tensor& x) { return x.dim() == 3; }

}  // namespace tessera::detail
