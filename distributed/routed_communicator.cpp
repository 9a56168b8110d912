#include "distributed/routed_communicator.h"

#include "core/check.h"

namespace tessera::dist {

RoutedCommunicator::RoutedCommunicator(std::shared_ptr<Communicator> device, std::shared_ptr<Communicator> host)
    : device_(std::move(device)), host_(std::move(host)) {
  TESSERA_CHECK(device_ && host_, "RoutedCommunicator: needs a device and a host communicator");
}

Communicator& RoutedCommunicator::route(const Tensor& tensor) const {
  return tensor.defined() && tensor.device().is_cpu() ? *host_ : *device_;
}

WorkPtr RoutedCommunicator::allreduce(const Tensor& tensor, ReduceOp op, const CollectiveTag& tag) {
  return route(tensor).allreduce(tensor, op, tag);
}
WorkPtr RoutedCommunicator::broadcast(const Tensor& tensor, int root, const CollectiveTag& tag) {
  return route(tensor).broadcast(tensor, root, tag);
}
WorkPtr RoutedCommunicator::allgather(const Tensor& input, const Tensor& output, const CollectiveTag& tag) {
  return route(input).allgather(input, output, tag);
}
WorkPtr RoutedCommunicator::reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op,
                                           const CollectiveTag& tag) {
  return route(input).reduce_scatter(input, output, op, tag);
}
WorkPtr RoutedCommunicator::barrier(const CollectiveTag& tag) { return host_->barrier(tag); }

WorkPtr RoutedCommunicator::allreduce_raw(const RawBuffer& buffer, ReduceOp op, const CollectiveTag& tag) {
  return device_->allreduce_raw(buffer, op, tag);
}
WorkPtr RoutedCommunicator::broadcast_raw(const RawBuffer& buffer, int root, const CollectiveTag& tag) {
  return device_->broadcast_raw(buffer, root, tag);
}
WorkPtr RoutedCommunicator::allgather_raw(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag) {
  return device_->allgather_raw(input, output, tag);
}
WorkPtr RoutedCommunicator::reduce_scatter_raw(const RawBuffer& input, const RawBuffer& output, ReduceOp op,
                                               const CollectiveTag& tag) {
  return device_->reduce_scatter_raw(input, output, op, tag);
}

}  // namespace tessera::dist
