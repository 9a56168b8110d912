#pragma once
// Element types live in kernels/common/dtype.h (shared with the backends); the promotion rules ops follow are
// core's.
#include "kernels/common/dtype.h"

namespace tessera {

DType promote_types(DType a, DType b);  // PyTorch's type promotion for two tensors
// PyTorch's rule for a tensor with dimensions meeting a zero-dim one: the zero-dim tensor takes part only when its
// category (bool < integer < float) is higher, so a bf16 (N,) tensor times an f32 0-dim tensor stays bf16, and an
// i32 tensor plus an f64 0-dim tensor becomes f64.
DType promote_with_zero_dim(DType dimensioned, DType zero_dim);
// PyTorch's canCast, for results written into an existing tensor: never to a lower category (float > integer > bool).
bool can_cast(DType from, DType to);
DType default_float();                   // f32

}  // namespace tessera
