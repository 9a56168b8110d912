#pragma once
// Element types live in kernels/common/dtype.h (shared with the backends); the promotion rules ops follow are
// core's.
#include "kernels/common/dtype.h"

namespace tessera {

DType promote_types(DType a, DType b);  // PyTorch's type promotion for two tensors
// PyTorch's canCast, for results written into an existing tensor: never to a lower category (float > integer > bool).
bool can_cast(DType from, DType to);
DType default_float();                   // f32

}  // namespace tessera
