#include "distributed/data_parallel_context.h"

#include "core/ops.h"

namespace tessera::dist {

DataParallelContext::DataParallelContext(std::shared_ptr<Communicator> comm, DdpOptions options)
    : comm_(comm ? std::move(comm) : make_communicator()), options_(options) {}

std::shared_ptr<nn::Module> DataParallelContext::wrap(std::shared_ptr<nn::Module> module) {
  if (comm_->size() == 1) return module;  // nothing to synchronise
  auto ddp = std::make_shared<DistributedDataParallel>(std::move(module), comm_, options_);
  wrapped_ = ddp;
  return ddp;
}

const Reducer* DataParallelContext::reducer() const {
  const auto ddp = wrapped_.lock();
  return ddp ? &ddp->reducer() : nullptr;
}

std::shared_ptr<void> DataParallelContext::no_sync(nn::Module& wrapped) {
  auto* ddp = dynamic_cast<DistributedDataParallel*>(&wrapped);
  return ddp ? std::make_shared<DistributedDataParallel::NoSync>(*ddp) : nullptr;
}

void DataParallelContext::allreduce_sum(std::vector<double>& values) {
  if (comm_->size() == 1 || values.empty()) return;
  Tensor buffer = tensor(values, {}, TensorOptions{.dtype = DType::f64, .device = Device()});  // a control message
  comm_->allreduce(buffer, ReduceOp::sum, {.what = "metrics"})->wait();
  values = buffer.to_vector<double>();
}

}  // namespace tessera::dist
