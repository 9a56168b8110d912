// The raw MPI_Allreduce peer for benchmarks (raw_peer.h): the same datatype and MPI_Op as the mpi backend, on a
// duplicate of MPI_COMM_WORLD of its own.
#include <mpi.h>

#include <climits>
#include <vector>

#include "core/core.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "distributed/mpi/mpi_communicator.h"
#include "distributed/mpi/mpi_types.h"
#include "distributed/raw_peer.h"

namespace tessera::dist {

namespace {

class MpiRawPeer final : public RawAllreducePeer {
 public:
  std::string name() const override { return "MPI_Allreduce"; }
  RawBuffer allocate(int64_t numel, DType dtype) override {
    buffers_.push_back(zeros({numel}, {.dtype = dtype, .device = Device()}));
    return {buffers_.back().raw_data(), numel, dtype};
  }
  void allreduce(const RawBuffer& buffer, ReduceOp op) override {
    TESSERA_CHECK(buffer.numel <= INT_MAX, "MPI_Allreduce peer: ", buffer.numel,
                  " elements, more than MPI's int count allows");
    MPI_Allreduce(MPI_IN_PLACE, buffer.data, static_cast<int>(buffer.numel), mpi::datatype(buffer.dtype),
                  mpi::reduce_op(op, buffer.dtype), comm_.get());
    if (op == ReduceOp::avg) mpi::divide_in_place(buffer.data, buffer.numel, buffer.dtype, world().size);
  }

 private:
  mpi::DuplicateWorld comm_;
  std::vector<Tensor> buffers_;
};

}  // namespace

std::unique_ptr<RawAllreducePeer> make_mpi_raw_peer() { return std::make_unique<MpiRawPeer>(); }

}  // namespace tessera::dist
