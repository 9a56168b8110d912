#pragma once
// How Model trains across ranks. The default (LocalContext) is one process; dist::DataParallelContext
// (distributed/) wraps the module in DistributedDataParallel and sums metrics over ranks (core cannot depend on
// distributed). Every rank must make the same calls in the same order.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/nn/module.h"

namespace tessera::model {

class ParallelContext {
 public:
  virtual ~ParallelContext() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  bool is_main() const { return rank() == 0; }  // the rank that prints and writes files
  // The module that training calls: the model itself, or a data-parallel wrapper of it (which makes every rank
  // start from rank 0's parameters and averages gradients during backward).
  virtual std::shared_ptr<nn::Module> wrap(std::shared_ptr<nn::Module> module) { return module; }
  // While the returned guard lives, backward passes through `wrapped` (what wrap() returned) only accumulate
  // gradients locally, without synchronising them (DDP's no_sync): gradient accumulation's micro-batches but the last.
  virtual std::shared_ptr<void> no_sync(nn::Module& wrapped) { return nullptr; }
  // Collective: gives every rank rank 0's buffers (BatchNorm running statistics). A data-parallel wrapper copies
  // them before each training forward only, so after a training step each rank holds its own batch's update;
  // evaluation runs on rank 0's, the ones checkpoints save.
  virtual void sync_buffers(nn::Module& wrapped) {}
  // In place: the element-wise sum over ranks (the same on every rank afterwards).
  virtual void allreduce_sum(std::vector<double>& values) {}
  // Throws the same error on every rank unless every rank holds the same value of each entry (named in the error):
  // what decides which collectives a rank makes (batches per epoch, the step a resumed run starts from) must agree,
  // or one rank's gradient all-reduce meets another's metrics all-reduce.
  virtual void require_same_on_every_rank(const std::vector<std::pair<std::string, int64_t>>& values) {}
};

using LocalContext = ParallelContext;

}  // namespace tessera::model
