// make_communicator: the backend by name, or "auto" (see CommunicatorOptions::backend).
#include "distributed/communicator.h"

#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/ops/factory.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "distributed/raw_peer.h"
#include "distributed/routed_communicator.h"
#include "kernels/device_info.h"

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

namespace {

// The physical GPU as a number: this node's name and the GPU's PCI bus id (not its ordinal, which
// CUDA_VISIBLE_DEVICES changes from rank to rank).
int64_t gpu_key(const Device& device) {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  const std::string bus = kernels::cuda_pci_bus_id(device.index);
  return static_cast<int64_t>(std::hash<std::string>{}(std::string(name) + "/" + bus) & 0x7fffffffffffffffull);
}

// Why NCCL cannot carry this rank's tensors on `device` (empty: it can). Collective over `host`: several ranks on
// one GPU are found by comparing every rank's (node, GPU), since NCCL refuses them ("Duplicate GPU detected").
std::string why_not_nccl(const Device& device, Communicator& host) {
  std::string reason;
  if (!nccl_compiled()) reason = "this build has no NCCL (configured without CUDA)";
  else if (!device.is_cuda()) reason = "its tensors live on " + device.str() + ", not a GPU";
  if (host.size() == 1) return reason;
  const int64_t mine = device.is_cuda() ? gpu_key(device) : -1 - host.rank();
  Tensor keys = empty({host.size()}, {.dtype = DType::i64, .device = Device()});
  host.allgather(tensor(std::vector<int64_t>{mine}, {}, TensorOptions{.dtype = DType::i64, .device = Device()}),
                 keys, {"which GPU each rank uses"})
      ->wait();
  const std::vector<int64_t> all = keys.to_vector<int64_t>();
  for (int r = 0; r < host.size() && reason.empty(); ++r) {
    if (r != host.rank() && all[static_cast<size_t>(r)] == mine)
      reason = "rank " + std::to_string(r) + " uses the same GPU (" + device.str() +
               " on this node), and NCCL refuses two ranks on one GPU";
  }
  return reason;
}

// Whether every rank can use NCCL (each rank's own reason in `reason`); collective.
bool all_ranks_can_use_nccl(const std::string& reason, Communicator& host) {
  Tensor ok = tensor(std::vector<int32_t>{reason.empty() ? 1 : 0}, {},
                     TensorOptions{.dtype = DType::i32, .device = Device()});
  if (host.size() > 1) host.allreduce(ok, ReduceOp::min, {"can every rank use NCCL"})->wait();
  return ok.item<int32_t>() == 1;
}

}  // namespace

std::shared_ptr<Communicator> make_communicator(const CommunicatorOptions& options) {
  init();
  const std::string& backend = options.backend;
  TESSERA_CHECK(backend == "auto" || backend == "mpi" || backend == "nccl", "unknown communicator backend '",
                backend, "' (expected auto, mpi or nccl)");
  std::shared_ptr<Communicator> host = make_mpi_communicator(options);
  if (backend == "mpi" || (backend == "auto" && !nccl_compiled())) return host;
  const std::string reason = why_not_nccl(options.device, *host);
  if (all_ranks_can_use_nccl(reason, *host))
    return std::make_shared<RoutedCommunicator>(make_nccl_communicator(options), host);
  TESSERA_CHECK(backend == "auto", "communicator backend nccl: rank ", host->rank(), " cannot use NCCL: ",
                reason.empty() ? "another rank cannot (see its message)" : reason,
                ". Use backend \"mpi\" (device tensors staged through host memory) or \"auto\"");
  return host;  // auto: device tensors staged through host memory
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
