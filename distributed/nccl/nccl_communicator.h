#pragma once
// The NCCL backend: collectives on CUDA device memory, enqueued on the communicator's own CUDA stream. Rank 0 creates
// the ncclUniqueId and broadcasts it over MPI_COMM_WORLD; every rank then joins with ncclCommInitRank on its GPU
// (world().device); see nccl_world.h.
//
// Invariants:
// - Ordering with the caller's GPU work: the stream is non-blocking (it never serialises with other streams by
//   itself), so each collective first makes it wait for an event recorded on the caller's current stream (the
//   compute stream, where the kernels that wrote the inputs ran): a bucket's all-reduce starts once backward has
//   produced it, while backward goes on.
// - Calls return once the collective is enqueued; the Work records a CUDA event after it. wait_on_stream() makes the
//   caller's current stream wait for that event: the host goes on (the reducer's step). wait() blocks the
//   host until the event has passed, polling ncclCommGetAsyncError meanwhile, so an NCCL failure (a peer gone, a
//   network error) becomes an exception naming the collective instead of a hang.
// - The watchdog polls each collective's event from its own thread and ends the job when one has not passed within
//   the collective timeout, or at once, naming the collective and NCCL's reason, when the communicator reports an
//   asynchronous error: nobody may be waiting on the host to see it (wait_on_stream).
// - Zero-element collectives issue no NCCL call (every rank passes the same count, so every rank skips alike).
// - Tensor forms need CUDA tensors on this rank's GPU (host tensors go over MPI: routed_communicator.h); the raw
//   forms take device pointers on it. Buffers stay alive and untouched until the collective's event has passed.
// - Teardown: the communicator drains its stream while the watchdog still watches, then the NCCL communicator is
//   destroyed when the last Work referring to it is gone: ncclCommDestroy after a clean run, ncclCommAbort after an
//   asynchronous error (a failed communicator may never drain). The tensors of collectives not seen to pass then
//   go back to the caching allocator only after ncclCommAbort: until then NCCL may still write them.
// - Only the CUDA runtime (cudart) and libnccl are linked; NCCL finds the driver itself at run time.
#include <cuda_runtime.h>
#include <nccl.h>

#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "distributed/communicator.h"
#include "distributed/watchdog.h"

namespace tessera::dist::nccl {

struct CommState;  // the ncclComm_t, its stream and events; shared with every Work (nccl_communicator.cpp)

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(const CommunicatorOptions& options);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }
  cudaStream_t stream() const;

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
  // Orders the stream after the caller's work, runs `issue` (the NCCL call; skipped when `empty`), records the
  // event that ends `call` and starts watching it. One collective at a time: an ncclComm_t is not thread-safe.
  // `tensors`: what the buffers belong to, kept alive until the collective's event has passed.
  template <typename Issue>
  WorkPtr enqueue(const CollectiveCall& call, bool empty, Issue issue, std::vector<Tensor> tensors);
  WorkPtr allreduce_buffer(const RawBuffer& buffer, ReduceOp op, const CollectiveTag& tag, std::vector<Tensor> tensors);
  WorkPtr broadcast_buffer(const RawBuffer& buffer, int root, const CollectiveTag& tag, std::vector<Tensor> tensors);
  WorkPtr allgather_buffers(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag,
                            std::vector<Tensor> tensors);
  WorkPtr reduce_scatter_buffers(const RawBuffer& input, const RawBuffer& output, ReduceOp op,
                                 const CollectiveTag& tag, std::vector<Tensor> tensors);

  struct InFlight;  // a collective's end event and the tensors its buffers belong to (nccl_communicator.cpp)
  void release_passed();  // drops the collectives seen to pass, oldest first (under enqueue_mutex_)

  int rank_ = 0;
  int size_ = 1;
  bool timing_ = false;  // CommunicatorOptions::timing
  std::shared_ptr<CommState> state_;
  std::unique_ptr<Watchdog> watchdog_;
  std::mutex enqueue_mutex_;
  // Collectives not yet seen to pass, with their tensors: released here, by a caller's thread at its next enqueue,
  // never by the watchdog's, since freeing takes the caching allocator's lock, which a device sync (the
  // out-of-memory retry, empty_cache) may hold while a collective is stuck: the watchdog would then never fire.
  std::deque<std::unique_ptr<InFlight>> in_flight_;  // under enqueue_mutex_
};

}  // namespace tessera::dist::nccl
