#pragma once
// Tessera dtypes and reduce ops as MPI datatypes and MPI_Ops.
//
// bf16 and f16 have no MPI datatype. They travel as MPI_UINT16_T and are reduced by user-defined MPI ops that widen
// each pair to f32, combine, and round back (round-to-nearest-even): no extra buffer, no extra pass over memory,
// and only half the bytes of converting to f32 first. Every step rounds once, as NCCL's bf16/f16 reductions do;
// all ranks still get bit-identical results because the ops are commutative and MPI's algorithms combine the same
// pairs on every rank.
//
// avg has no MPI_Op: the backend reduces with sum and divides by the world size afterwards (divide_in_place).
#include <mpi.h>

#include <cstdint>

#include "core/dtype.h"
#include "distributed/communicator.h"

namespace tessera::dist::mpi {

bool supported(DType dtype);  // f32, f64, bf16, f16, i32, i64
MPI_Datatype datatype(DType dtype);
// The MPI_Op that implements `op` on `dtype` (sum for avg). The user-defined ops for bf16/f16 are created on first
// use (MPI must be initialised) and live until the process ends.
MPI_Op reduce_op(ReduceOp op, DType dtype);
// data[i] /= divisor, in the dtype's arithmetic (integers: truncating division, as torch does for int avg).
void divide_in_place(void* data, int64_t numel, DType dtype, int divisor);

}  // namespace tessera::dist::mpi
