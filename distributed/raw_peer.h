#pragma once
// The raw library call each backend wraps, for `tessera bench allreduce` to time side by side with the
// Communicator in the same run: a blocking allreduce on a communicator of its own (mpi: MPI_Allreduce on a
// duplicate of MPI_COMM_WORLD with the same datatype and MPI_Op the backend uses; nccl: ncclAllReduce on its own
// ncclComm and stream, then cudaStreamSynchronize).
#include <memory>
#include <string>
#include <vector>

#include "distributed/communicator.h"

namespace tessera::dist {

class RawAllreducePeer {
 public:
  virtual ~RawAllreducePeer() = default;
  virtual std::string name() const = 0;  // "MPI_Allreduce", "ncclAllReduce"
  // Zeroed memory the backend takes (host for mpi, device for nccl), owned by the peer.
  virtual RawBuffer allocate(int64_t numel, DType dtype) = 0;
  virtual void allreduce(const RawBuffer& buffer, ReduceOp op) = 0;  // returns when done
};

// backend: "mpi" or "nccl" (an error naming the build's limits where nccl is not compiled in or there is no GPU).
std::unique_ptr<RawAllreducePeer> make_raw_allreduce_peer(const std::string& backend);

}  // namespace tessera::dist
