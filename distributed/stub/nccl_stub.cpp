// Builds without CUDA link this instead of nccl/: the factory says clearly why there is no NCCL.
#include "core/check.h"
#include "distributed/backends.h"
#include "distributed/raw_peer.h"

namespace tessera::dist {

bool nccl_compiled() { return false; }
std::string nccl_version() { return "NCCL: none, built without CUDA"; }

namespace {
const char* const kNoNccl =
    "the nccl communicator backend is not in this build (configured without CUDA: TESSERA_CUDA=OFF or nvcc/NCCL "
    "not found); use backend \"mpi\" or \"auto\"";
}  // namespace

std::shared_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions&) { TESSERA_THROW(kNoNccl); }
std::unique_ptr<RawAllreducePeer> make_nccl_raw_peer() { TESSERA_THROW(kNoNccl); }

}  // namespace tessera::dist
