#include "distributed/mpi/mpi_communicator.h"

#include <climits>
#include <string>

#include "core/check.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "distributed/mpi/mpi_types.h"

namespace tessera::dist {

std::shared_ptr<Communicator> make_mpi_communicator(const CommunicatorOptions& options) {
  return std::make_shared<mpi::MpiCommunicator>(options);
}

namespace mpi {

namespace {

// MPI_ERRORS_RETURN makes failures return codes; this turns one into an exception naming the call.
void check_mpi(int code, const CollectiveCall& call, int rank) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  TESSERA_THROW("MPI ", call.describe(), " failed on rank ", rank, ": ", std::string(text, length));
}

// Checks a tensor a collective reads or writes, naming the collective and the argument.
void check_tensor(const Tensor& tensor, const char* collective, const char* argument) {
  TESSERA_CHECK(tensor.defined(), collective, ": ", argument, " is an undefined tensor");
  TESSERA_CHECK(tensor.device().is_cpu(), collective, ": the mpi backend takes CPU tensors, ", argument, " is on ",
                tensor.device().str());
  TESSERA_CHECK(tensor.is_contiguous(), collective, ": ", argument, " must be contiguous (shape ",
                shape_str(tensor.shape()), ")");
  TESSERA_CHECK(supported(tensor.dtype()), collective, ": the mpi backend does not support ", argument, "'s dtype ",
                dtype_name(tensor.dtype()), " (supported: f32, f64, bf16, f16, i32, i64)");
  TESSERA_CHECK(tensor.numel() <= INT_MAX, collective, ": ", argument, " has ", tensor.numel(),
                " elements, more than MPI's int count allows (", INT_MAX, ")");
}

std::string op_detail(ReduceOp op) { return to_string(op); }

}  // namespace

DuplicateWorld::DuplicateWorld() {
  init();
  MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
}

DuplicateWorld::~DuplicateWorld() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

MpiCommunicator::MpiCommunicator(const CommunicatorOptions& options)
    : rank_(world().rank),
      size_(world().size),
      watchdog_(WatchdogOptions{.timeout = resolve_collective_timeout(options.timeout), .backend = "mpi"}),
      thread_(watchdog_) {}

WorkPtr MpiCommunicator::allreduce(const Tensor& tensor, ReduceOp op, const CollectiveTag& tag) {
  check_tensor(tensor, "allreduce", "tensor");
  CollectiveCall call{"allreduce", op_detail(op), tensor.dtype(), tensor.numel(), tag};
  return thread_.submit(call, [this, call, tensor, op] {
    void* data = tensor.raw_data();
    const int count = static_cast<int>(tensor.numel());
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, count, datatype(tensor.dtype()), reduce_op(op, tensor.dtype()),
                            comm_.get()),
              call, rank_);
    if (op == ReduceOp::avg) divide_in_place(data, count, tensor.dtype(), size_);
    tensor.bump_version();
  });
}

WorkPtr MpiCommunicator::broadcast(const Tensor& tensor, int root, const CollectiveTag& tag) {
  check_tensor(tensor, "broadcast", "tensor");
  TESSERA_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of this world (size ", size_,
                ")");
  CollectiveCall call{"broadcast", "root " + std::to_string(root), tensor.dtype(), tensor.numel(), tag};
  return thread_.submit(call, [this, call, tensor, root] {
    check_mpi(MPI_Bcast(tensor.raw_data(), static_cast<int>(tensor.numel()), datatype(tensor.dtype()), root,
                        comm_.get()),
              call, rank_);
    tensor.bump_version();
  });
}

WorkPtr MpiCommunicator::allgather(const Tensor& input, const Tensor& output, const CollectiveTag& tag) {
  check_tensor(input, "allgather", "input");
  check_tensor(output, "allgather", "output");
  TESSERA_CHECK(output.dtype() == input.dtype(), "allgather: output is ", dtype_name(output.dtype()), " but input is ",
                dtype_name(input.dtype()));
  TESSERA_CHECK(output.numel() == input.numel() * size_, "allgather: output has ", output.numel(),
                " elements, expected size() x input = ", size_, " x ", input.numel());
  CollectiveCall call{"allgather", "", input.dtype(), input.numel(), tag};
  return thread_.submit(call, [this, call, input, output] {
    const MPI_Datatype type = datatype(input.dtype());
    const int count = static_cast<int>(input.numel());
    check_mpi(MPI_Allgather(input.raw_data(), count, type, output.raw_data(), count, type, comm_.get()), call, rank_);
    output.bump_version();
  });
}

WorkPtr MpiCommunicator::reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op,
                                        const CollectiveTag& tag) {
  check_tensor(input, "reduce_scatter", "input");
  check_tensor(output, "reduce_scatter", "output");
  TESSERA_CHECK(output.dtype() == input.dtype(), "reduce_scatter: output is ", dtype_name(output.dtype()),
                " but input is ", dtype_name(input.dtype()));
  TESSERA_CHECK(input.numel() == output.numel() * size_, "reduce_scatter: input has ", input.numel(),
                " elements, expected size() x output = ", size_, " x ", output.numel());
  CollectiveCall call{"reduce_scatter", op_detail(op), input.dtype(), input.numel(), tag};
  return thread_.submit(call, [this, call, input, output, op] {
    const int count = static_cast<int>(output.numel());
    check_mpi(MPI_Reduce_scatter_block(input.raw_data(), output.raw_data(), count, datatype(input.dtype()),
                                       reduce_op(op, input.dtype()), comm_.get()),
              call, rank_);
    if (op == ReduceOp::avg) divide_in_place(output.raw_data(), count, output.dtype(), size_);
    output.bump_version();
  });
}

WorkPtr MpiCommunicator::barrier(const CollectiveTag& tag) {
  CollectiveCall call{"barrier", "", DType::f32, 0, tag};
  return thread_.submit(call, [this, call] { check_mpi(MPI_Barrier(comm_.get()), call, rank_); });
}

}  // namespace mpi
}  // namespace tessera::dist
