#pragma once
// Tessera dtypes and reduce ops as NCCL's, for the backend and the raw benchmark peer.
#include <nccl.h>

#include "core/dtype.h"
#include "distributed/communicator.h"

namespace tessera::dist::nccl {

// `collective` names the caller in the error for an unsupported dtype (supported: f32, f64, bf16, f16, i32, i64).
ncclDataType_t nccl_type(DType dtype, const char* collective);
ncclRedOp_t nccl_op(ReduceOp op);  // avg is ncclAvg (NCCL >= 2.10)

}  // namespace tessera::dist::nccl
