#include "distributed/nccl/nccl_types.h"

#include "core/check.h"

namespace tessera::dist::nccl {

ncclDataType_t nccl_type(DType dtype, const char* collective) {
  switch (dtype) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::bf16: return ncclBfloat16;
    case DType::f16: return ncclFloat16;
    case DType::i32: return ncclInt32;
    case DType::i64: return ncclInt64;
    default:
      TESSERA_THROW(collective, ": the nccl backend does not support ", dtype_name(dtype),
                    " (supported: f32, f64, bf16, f16, i32, i64)");
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    // NCCL >= 2.10. Integers: sum, then division truncating toward zero, as the mpi backend. Floats: each input
    // is multiplied by 1/size before the sum, so results may differ from mpi's sum-then-divide in the last bit.
    case ReduceOp::avg: return ncclAvg;
    case ReduceOp::max: return ncclMax;
    case ReduceOp::min: return ncclMin;
  }
  return ncclSum;
}

}  // namespace tessera::dist::nccl
