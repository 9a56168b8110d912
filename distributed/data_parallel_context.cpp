#include "distributed/data_parallel_context.h"

#include "core/ops.h"
#include "distributed/model_fingerprint.h"

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

void DataParallelContext::sync_buffers(nn::Module& wrapped) {
  auto* ddp = dynamic_cast<DistributedDataParallel*>(&wrapped);
  if (ddp && ddp->options().broadcast_buffers) ddp->sync_buffers();
}

void DataParallelContext::allreduce_sum(std::vector<double>& values) {
  if (comm_->size() == 1 || values.empty()) return;
  Tensor buffer = tensor(values, {}, TensorOptions{.dtype = DType::f64, .device = Device()});  // a control message
  comm_->allreduce(buffer, ReduceOp::sum, {.what = "metrics"})->wait();
  values = buffer.to_vector<double>();
}

// Through the model's fingerprint check: one small all-reduce when the ranks agree, each rank's value when not.
void DataParallelContext::require_same_on_every_rank(const std::vector<std::pair<std::string, int64_t>>& values) {
  if (comm_->size() == 1 || values.empty()) return;
  std::vector<std::string> entries;
  for (const auto& [name, value] : values) entries.push_back(name + " " + std::to_string(value));
  check_same_on_all_ranks(*comm_, entries, "Model::fit: where training starts",
                          "Every rank must read the same number of batches per epoch and resume from the same "
                          "checkpoint (a checkpoint.dir that every rank sees alike).");
}

}  // namespace tessera::dist
