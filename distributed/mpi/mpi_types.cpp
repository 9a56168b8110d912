#include "distributed/mpi/mpi_types.h"

#include <algorithm>
#include <mutex>

#include "core/check.h"

namespace tessera::dist::mpi {

namespace {

struct Sum {
  float operator()(float a, float b) const { return a + b; }
};
struct Max {
  // NaN wins, as in torch.maximum.
  float operator()(float a, float b) const { return a != a || b != b ? a + b : std::max(a, b); }
};
struct Min {
  float operator()(float a, float b) const { return a != a || b != b ? a + b : std::min(a, b); }
};

// MPI user function: inout[i] = combine(in[i], inout[i]) for a 16-bit float type.
template <typename Half, typename Combine>
void reduce_half(void* in, void* inout, int* len, MPI_Datatype*) {
  const Half* a = static_cast<const Half*>(in);
  Half* b = static_cast<Half*>(inout);
  const Combine combine;
  for (int i = 0; i < *len; ++i) b[i] = Half(combine(static_cast<float>(a[i]), static_cast<float>(b[i])));
}

struct HalfOps {
  MPI_Op sum, max, min;
};

template <typename Half>
HalfOps create_half_ops() {
  HalfOps ops{};
  MPI_Op_create(&reduce_half<Half, Sum>, /*commute=*/1, &ops.sum);
  MPI_Op_create(&reduce_half<Half, Max>, 1, &ops.max);
  MPI_Op_create(&reduce_half<Half, Min>, 1, &ops.min);
  return ops;
}

const HalfOps& half_ops(DType dtype) {
  static std::once_flag once;
  static HalfOps bf16_ops, f16_ops;
  std::call_once(once, [] {
    bf16_ops = create_half_ops<bf16>();
    f16_ops = create_half_ops<f16>();
  });
  return dtype == DType::bf16 ? bf16_ops : f16_ops;
}

}  // namespace

bool supported(DType dtype) {
  switch (dtype) {
    case DType::f32: case DType::f64: case DType::bf16: case DType::f16: case DType::i32: case DType::i64:
      return true;
    default:
      return false;
  }
}

MPI_Datatype datatype(DType dtype) {
  switch (dtype) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::bf16: case DType::f16: return MPI_UINT16_T;
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
    default: TESSERA_THROW("the MPI backend does not support ", dtype_name(dtype),
                           " tensors (supported: f32, f64, bf16, f16, i32, i64)");
  }
}

MPI_Op reduce_op(ReduceOp op, DType dtype) {
  if (dtype == DType::bf16 || dtype == DType::f16) {
    const HalfOps& ops = half_ops(dtype);
    return op == ReduceOp::max ? ops.max : op == ReduceOp::min ? ops.min : ops.sum;
  }
  return op == ReduceOp::max ? MPI_MAX : op == ReduceOp::min ? MPI_MIN : MPI_SUM;
}

void divide_in_place(void* data, int64_t numel, DType dtype, int divisor) {
  dispatch_numeric(dtype, "allreduce(avg)", [&]<typename T>() {
    T* values = static_cast<T*>(data);
    if constexpr (std::is_integral_v<T>) {
      const T d = static_cast<T>(divisor);
      for (int64_t i = 0; i < numel; ++i) values[i] = static_cast<T>(values[i] / d);
    } else {
      using Acc = acc_t<T>;
      const Acc d = static_cast<Acc>(divisor);
      for (int64_t i = 0; i < numel; ++i) values[i] = static_cast<T>(static_cast<Acc>(values[i]) / d);
    }
  });
}

}  // namespace tessera::dist::mpi
