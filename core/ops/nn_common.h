#pragma once
// Internal helpers shared by the conv, pool, normalisation and loss front ends and mean (not public API).
#include "core/check.h"
#include "core/tensor.h"

namespace tessera::detail {

// bf16/f16 inputs run these ops in f32 (as PyTorch's CPU kernels accumulate in float) and convert back.
inline bool computes_in_f32(DType dtype) { return dtype == DType::bf16 || dtype == DType::f16; }
inline Tensor to_if_defined(const Tensor& t, DType dtype) { return t.defined() ? t.to(dtype) : t; }

// A (C, H, W) image as a batch of one, so 2-D ops can accept unbatched input as PyTorch does.
inline bool is_unbatched_image(const Tensor& x) { return x.dim() == 3; }

// A loss's input and target: both floating, same dtype and shape; the error names the op and both.
inline void check_loss_pair(const char* op, const Tensor& input, const Tensor& target) {
  TESSERA_CHECK(input.defined() && target.defined() && input.is_floating_point() && target.is_floating_point(), op,
                ": expected floating input and target");
  TESSERA_CHECK(input.dtype() == target.dtype(), op, ": input has dtype ", dtype_name(input.dtype()),
                " but target has dtype ", dtype_name(target.dtype()));
  TESSERA_CHECK(input.shape() == target.shape(), op, ": input of shape ", shape_str(input.shape()),
                " and target of shape ", shape_str(target.shape()), " differ");
}

}  // namespace tessera::detail
