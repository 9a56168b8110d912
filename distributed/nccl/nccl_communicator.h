#pragma once
// The NCCL backend: collectives on CUDA device memory, enqueued on the communicator's own CUDA stream
// (non-blocking with respect to the legacy default stream). Rank 0 creates the ncclUniqueId and broadcasts it over
// MPI_COMM_WORLD; every rank then joins with ncclCommInitRank on its GPU (world().device).
//
// Invariants:
// - Calls return as soon as the collective is enqueued; the Work records a CUDA event after it. wait() blocks the
//   host until the event has passed (the core has no CUDA streams of its own yet to make wait on the event instead),
//   then reports an asynchronous NCCL error, if any, as an exception.
// - The watchdog polls each collective's event from its own thread and ends the job when one has not passed within
//   the collective timeout.
// - Tensor forms need CUDA tensors (the core cannot make them yet, so they fail with a clear error on CPU tensors);
//   the raw forms take device pointers. Buffers stay alive and untouched until wait() returns.
// - Only the CUDA runtime (cudart) and libnccl are linked; NCCL finds the driver itself at run time.
#include <cuda_runtime.h>
#include <nccl.h>

#include <memory>

#include "distributed/communicator.h"
#include "distributed/watchdog.h"

namespace tessera::dist::nccl {

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(const CommunicatorOptions& options);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }
  cudaStream_t stream() const { return stream_; }

  WorkPtr allreduce(const Tensor& tensor, ReduceOp op, const CollectiveTag& tag) override;
  WorkPtr broadcast(const Tensor& tensor, int root, const CollectiveTag& tag) override;
  WorkPtr allgather(const Tensor& input, const Tensor& output, const CollectiveTag& tag) override;
  WorkPtr reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op, const CollectiveTag& tag) override;
  WorkPtr barrier(const CollectiveTag& tag) override;

  WorkPtr allreduce_raw(const RawBuffer& buffer, ReduceOp op, const CollectiveTag& tag) override;
  WorkPtr broadcast_raw(const RawBuffer& buffer, int root, const CollectiveTag& tag) override;
  WorkPtr allgather_raw(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag) override;
  WorkPtr reduce_scatter_raw(const RawBuffer& input, const RawBuffer& output, ReduceOp op,
                             const CollectiveTag& tag) override;

 private:
  // Records the event that ends `call` on the stream and starts watching it.
  WorkPtr finish_enqueue(const CollectiveCall& call);

  int rank_ = 0;
  int size_ = 1;
  int device_ = -1;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* barrier_scratch_ = nullptr;  // one float on the device: a barrier is an allreduce of it
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace tessera::dist::nccl
