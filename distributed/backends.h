#pragma once
// One factory per backend file set; make_communicator (communicator.cpp) picks among them.
//   mpi/   make_mpi_communicator   always built
//   nccl/  make_nccl_communicator  CUDA builds; non-CUDA builds link stub/, whose version throws a clear error
#include <memory>
#include <string>

#include "distributed/communicator.h"

namespace tessera::dist {

std::shared_ptr<Communicator> make_mpi_communicator(const CommunicatorOptions& options);
std::shared_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions& options);
bool nccl_compiled();  // false in builds that link stub/
std::string nccl_version();  // "NCCL 2.28.9", or why there is none

class RawAllreducePeer;  // raw_peer.h
std::unique_ptr<RawAllreducePeer> make_mpi_raw_peer();
std::unique_ptr<RawAllreducePeer> make_nccl_raw_peer();

}  // namespace tessera::dist
