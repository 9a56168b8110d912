// The raw ncclAllReduce peer for benchmarks (raw_peer.h): its own ncclComm and stream, blocking on the stream after
// each call, on device memory it allocates (zeroed before allocate() returns, so no collective races the memset).
#include <cuda_runtime.h>
#include <nccl.h>

#include <vector>

#include "core/check.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "distributed/nccl/nccl_types.h"
#include "distributed/nccl/nccl_world.h"
#include "distributed/raw_peer.h"

namespace tessera::dist {

namespace {

constexpr const char* kWho = "ncclAllReduce peer";

class NcclRawPeer final : public RawAllreducePeer {
 public:
  NcclRawPeer() : comm_(nccl::init_world_comm(world().device, kWho)) {
    nccl::check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), kWho, "cudaStreamCreateWithFlags");
  }
  ~NcclRawPeer() override {
    cudaStreamSynchronize(stream_);
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
    for (void* p : buffers_) cudaFree(p);
  }
  std::string name() const override { return "ncclAllReduce"; }
  RawBuffer allocate(int64_t numel, DType dtype) override {
    void* data = nullptr;
    const size_t bytes = static_cast<size_t>(numel) * element_size(dtype);
    nccl::check_cuda(cudaMalloc(&data, bytes), kWho, "cudaMalloc of " + std::to_string(bytes) + " bytes");
    buffers_.push_back(data);
    nccl::check_cuda(cudaMemsetAsync(data, 0, bytes, stream_), kWho, "cudaMemsetAsync");
    nccl::check_cuda(cudaStreamSynchronize(stream_), kWho, "cudaStreamSynchronize");
    return {data, numel, dtype};
  }
  void allreduce(const RawBuffer& buffer, ReduceOp op) override {
    nccl::check_nccl(ncclAllReduce(buffer.data, buffer.data, static_cast<size_t>(buffer.numel),
                                   nccl::nccl_type(buffer.dtype, kWho), nccl::nccl_op(op), comm_, stream_),
                     kWho, "ncclAllReduce");
    nccl::check_cuda(cudaStreamSynchronize(stream_), kWho, "cudaStreamSynchronize after ncclAllReduce");
  }

 private:
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::vector<void*> buffers_;
};

}  // namespace

std::unique_ptr<RawAllreducePeer> make_nccl_raw_peer() { return std::make_unique<NcclRawPeer>(); }

}  // namespace tessera::dist
