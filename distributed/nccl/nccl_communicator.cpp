// Placeholder until the NCCL backend lands in this file set (CUDA builds link it instead of stub/).
#include "core/check.h"
#include "distributed/backends.h"

namespace tessera::dist {

bool nccl_compiled() { return true; }

std::shared_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions&) {
  TESSERA_THROW("the nccl communicator backend is not built yet; use backend \"mpi\"");
}

}  // namespace tessera::dist
