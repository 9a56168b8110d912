#pragma once
// The data-parallel ParallelContext of model::Model (core/model/parallel_context.h): under mpirun, Model.fit wraps
// its module in DistributedDataParallel and sums its metrics over ranks through the world's Communicator; with one
// rank it adds nothing.
//
//   model::Model model(specs, std::make_shared<dist::DataParallelContext>());
#include <memory>

#include "core/model/parallel_context.h"
#include "distributed/communicator.h"
#include "distributed/ddp.h"

namespace tessera::dist {

class DataParallelContext : public model::ParallelContext {
 public:
  // comm: null for make_communicator() over the world (dist::init() is called).
  explicit DataParallelContext(std::shared_ptr<Communicator> comm = nullptr, DdpOptions options = {});

  int rank() const override { return comm_->rank(); }
  int size() const override { return comm_->size(); }
  std::shared_ptr<nn::Module> wrap(std::shared_ptr<nn::Module> module) override;
  std::shared_ptr<void> no_sync(nn::Module& wrapped) override;
  void sync_buffers(nn::Module& wrapped) override;
  void allreduce_sum(std::vector<double>& values) override;
  void require_same_on_every_rank(const std::vector<std::pair<std::string, int64_t>>& values) override;
  Communicator& communicator() const { return *comm_; }
  // The reducer of the module wrap() made last (its last step's all-reduces, for a timeline); null on one rank.
  const Reducer* reducer() const;

 private:
  std::shared_ptr<Communicator> comm_;
  std::weak_ptr<DistributedDataParallel> wrapped_;
  DdpOptions options_;
};

}  // namespace tessera::dist
