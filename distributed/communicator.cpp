// make_communicator: the backend by name, or "auto" (see CommunicatorOptions::backend).
#include "distributed/communicator.h"

#include "core/check.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "distributed/raw_peer.h"

namespace tessera::dist {

std::string to_string(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::avg: return "avg";
    case ReduceOp::max: return "max";
    case ReduceOp::min: return "min";
  }
  return "?";
}

namespace {
[[noreturn]] void no_raw_buffers(const Communicator& comm, const char* collective) {
  TESSERA_THROW(collective, "_raw: the ", comm.backend(), " backend takes no raw buffers");
}
}  // namespace

WorkPtr Communicator::allreduce_raw(const RawBuffer&, ReduceOp, const CollectiveTag&) {
  no_raw_buffers(*this, "allreduce");
}
WorkPtr Communicator::broadcast_raw(const RawBuffer&, int, const CollectiveTag&) { no_raw_buffers(*this, "broadcast"); }
WorkPtr Communicator::allgather_raw(const RawBuffer&, const RawBuffer&, const CollectiveTag&) {
  no_raw_buffers(*this, "allgather");
}
WorkPtr Communicator::reduce_scatter_raw(const RawBuffer&, const RawBuffer&, ReduceOp, const CollectiveTag&) {
  no_raw_buffers(*this, "reduce_scatter");
}

std::shared_ptr<Communicator> make_communicator(const CommunicatorOptions& options) {
  init();
  std::string backend = options.backend;
  if (backend == "auto") backend = "mpi";  // see CommunicatorOptions::backend
  if (backend == "mpi") return make_mpi_communicator(options);
  if (backend == "nccl") return make_nccl_communicator(options);
  TESSERA_THROW("unknown communicator backend '", backend, "' (expected auto, mpi or nccl)");
}

}  // namespace tessera::dist

namespace tessera::dist {

std::unique_ptr<RawAllreducePeer> make_raw_allreduce_peer(const std::string& backend) {
  init();
  if (backend == "mpi") return make_mpi_raw_peer();
  if (backend == "nccl") return make_nccl_raw_peer();
  TESSERA_THROW("unknown communicator backend '", backend, "' (expected mpi or nccl)");
}

}  // namespace tessera::dist
