// Builds without CUDA link this instead of nccl/: the factory says clearly why there is no NCCL.
#include "core/check.h"
#include "distributed/backends.h"

namespace tessera::dist {

bool nccl_compiled() { return false; }

std::shared_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions&) {
  TESSERA_THROW("the nccl communicator backend is not in this build (configured without CUDA: TESSERA_CUDA=OFF or "
                "nvcc/NCCL not found); use backend \"mpi\" or \"auto\"");
}

}  // namespace tessera::dist
