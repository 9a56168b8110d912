// make_communicator: the backend by name, or "auto" (nccl on a rank with a GPU, else mpi).
#include "distributed/communicator.h"

#include "core/check.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"

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

std::shared_ptr<Communicator> make_communicator(const CommunicatorOptions& options) {
  init();
  std::string backend = options.backend;
  if (backend == "auto") backend = world().device >= 0 && nccl_compiled() ? "nccl" : "mpi";
  if (backend == "mpi") return make_mpi_communicator(options);
  if (backend == "nccl") return make_nccl_communicator(options);
  TESSERA_THROW("unknown communicator backend '", backend, "' (expected auto, mpi or nccl)");
}

}  // namespace tessera::dist
