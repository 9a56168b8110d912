// The raw ncclAllReduce peer for benchmarks (raw_peer.h): its own ncclComm and stream, blocking on the stream after
// each call, on device memory it allocates.
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <vector>

#include "core/check.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "distributed/nccl/nccl_types.h"
#include "distributed/raw_peer.h"

namespace tessera::dist {

namespace {

class NcclRawPeer final : public RawAllreducePeer {
 public:
  NcclRawPeer() {
    const World& w = world();
    TESSERA_CHECK(w.device >= 0, "ncclAllReduce peer: rank ", w.rank, " has no GPU");
    TESSERA_CHECK(cudaSetDevice(w.device) == cudaSuccess, "ncclAllReduce peer: cudaSetDevice failed");
    ncclUniqueId id{};
    if (w.rank == 0) TESSERA_CHECK(ncclGetUniqueId(&id) == ncclSuccess, "ncclGetUniqueId failed");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    TESSERA_CHECK(ncclCommInitRank(&comm_, w.size, id, w.rank) == ncclSuccess, "ncclCommInitRank failed");
    TESSERA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking) == cudaSuccess,
                  "cudaStreamCreateWithFlags failed");
  }
  ~NcclRawPeer() override {
    cudaStreamSynchronize(stream_);
    for (void* p : buffers_) cudaFree(p);
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }
  std::string name() const override { return "ncclAllReduce"; }
  RawBuffer allocate(int64_t numel, DType dtype) override {
    void* data = nullptr;
    const size_t bytes = static_cast<size_t>(numel) * element_size(dtype);
    TESSERA_CHECK(cudaMalloc(&data, bytes) == cudaSuccess, "cudaMalloc of ", bytes, " bytes failed");
    TESSERA_CHECK(cudaMemset(data, 0, bytes) == cudaSuccess, "cudaMemset failed");
    buffers_.push_back(data);
    return {data, numel, dtype};
  }
  void allreduce(const RawBuffer& buffer, ReduceOp op) override {
    TESSERA_CHECK(ncclAllReduce(buffer.data, buffer.data, static_cast<size_t>(buffer.numel),
                                nccl::nccl_type(buffer.dtype, "ncclAllReduce peer"), nccl::nccl_op(op), comm_,
                                stream_) == ncclSuccess,
                  "ncclAllReduce failed");
    TESSERA_CHECK(cudaStreamSynchronize(stream_) == cudaSuccess, "cudaStreamSynchronize failed");
  }

 private:
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::vector<void*> buffers_;
};

}  // namespace

std::unique_ptr<RawAllreducePeer> make_nccl_raw_peer() { return std::make_unique<NcclRawPeer>(); }

}  // namespace tessera::dist
