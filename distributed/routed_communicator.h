#pragma once
// Two communicators behind one: device tensors over `device` (nccl), host tensors over `host` (mpi). This is what
// backend "nccl" (and "auto" where NCCL can run) gives: gradients move over NCCL on the GPU, while the small control
// messages that live in host memory (model fingerprints, the map of used parameters, metric sums) go over MPI, as
// the design asks. Raw buffers are device pointers (nccl).
//
// Invariant: every rank routes the same call to the same backend (the route depends only on the tensor's device,
// which the data-parallel code keeps the same on every rank), so each backend sees the same collectives in the same
// order everywhere, as it requires. Calls on the two backends are not ordered with each other.
#include <memory>

#include "distributed/communicator.h"

namespace tessera::dist {

class RoutedCommunicator final : public Communicator {
 public:
  RoutedCommunicator(std::shared_ptr<Communicator> device, std::shared_ptr<Communicator> host);

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  std::string backend() const override { return device_->backend(); }

  WorkPtr allreduce(const Tensor& tensor, ReduceOp op, const CollectiveTag& tag) override;
  WorkPtr broadcast(const Tensor& tensor, int root, const CollectiveTag& tag) override;
  WorkPtr allgather(const Tensor& input, const Tensor& output, const CollectiveTag& tag) override;
  WorkPtr reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op, const CollectiveTag& tag) override;
  WorkPtr barrier(const CollectiveTag& tag) override;  // over host: every rank has reached it

  WorkPtr allreduce_raw(const RawBuffer& buffer, ReduceOp op, const CollectiveTag& tag) override;
  WorkPtr broadcast_raw(const RawBuffer& buffer, int root, const CollectiveTag& tag) override;
  WorkPtr allgather_raw(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag) override;
  WorkPtr reduce_scatter_raw(const RawBuffer& input, const RawBuffer& output, ReduceOp op,
                             const CollectiveTag& tag) override;

 private:
  Communicator& route(const Tensor& tensor) const;

  std::shared_ptr<Communicator> device_, host_;
};

}  // namespace tessera::dist
