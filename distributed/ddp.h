#pragma once
// DistributedDataParallel: N ranks train one model. Wrap the model, then train as usual:
//
//   auto comm = dist::make_communicator();
//   dist::DistributedDataParallel ddp(model, comm, {.bucket_cap_mb = 25});
//   optim::SGD opt(ddp.parameters(), {.lr = 0.1});
//   for (...) { opt.zero_grad(); cross_entropy(ddp(x), y).backward(); opt.step(); }
//
// Construction (collective) checks that every rank built the same model (names, shapes, dtypes: an error naming
// the first difference otherwise) and copies rank 0's parameters and buffers to every rank. Each forward with
// grad mode on (in training or evaluation mode, as PyTorch) arms the Reducer (reducer.h): during the following
// backward, gradients are averaged over all ranks in buckets whose all-reduces overlap the rest of backward; when backward returns, every rank holds the same
// averaged gradients, so identical optimizer steps keep the replicas bit-identical.
//
// Gradient accumulation: backward passes inside a no_sync() scope only accumulate locally; the first synchronised
// backward after it all-reduces the accumulated sum.
//
// Invariants: the wrapped module is registered as child "module" (so parameters() are the model's own tensors);
// errors and collective tags name parameters by the wrapped module's names ("fc1.weight"); every rank must call
// forward/backward the same number of times with the same options, as with any collective.
#include <memory>

#include "core/nn/module.h"
#include "distributed/communicator.h"
#include "distributed/reducer.h"

namespace tessera::dist {

struct DdpOptions {
  double bucket_cap_mb = 25;        // later buckets close once they hold this many MiB of gradients
  double first_bucket_cap_mb = 1;   // the first bucket is small, so its all-reduce starts early in backward
  // Parameters that take no part in a step's forward are reduced instead of being an error: as zeros, or as the
  // gradient they accumulated under no_sync() since the last synchronised step.
  bool find_unused_parameters = false;
  // .grad() of every parameter becomes a view into its bucket: no copy back after the all-reduce, less memory.
  bool gradient_as_bucket_view = false;
  // Copy rank 0's buffers (e.g. BatchNorm running statistics) to every rank before each training forward.
  bool broadcast_buffers = true;
  // false launches every all-reduce only once the last gradient is ready: the no-overlap baseline of
  // `tessera bench ddp`. Leave it true for training.
  bool overlap_with_backward = true;
};

class DistributedDataParallel : public nn::Module {
 public:
  DistributedDataParallel(std::shared_ptr<nn::Module> module, std::shared_ptr<Communicator> comm,
                          DdpOptions options = {});
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  // The wrapped module's forward; with grad mode on (and outside no_sync), in either mode, it also arms the
  // reducer for the backward of the result.
  Tensor forward(const Tensor& input) override;

  nn::Module& module() const { return *module_; }
  Communicator& communicator() const { return *comm_; }
  const DdpOptions& options() const { return options_; }
  const Reducer& reducer() const { return *reducer_; }
  // Synchronised steps so far (forwards that armed the reducer); the step number in collective tags and errors.
  int64_t step() const { return step_; }

  // Collective: rank 0's buffers to every rank now, as before each training forward (Model::evaluate calls it: a
  // training forward updates each rank's BatchNorm statistics with its own batch after the copy).
  void sync_buffers() { broadcast_buffers_from_rank0(); }

  // RAII scope in which backward passes do not synchronise gradients (they accumulate locally).
  class [[nodiscard]] NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp) : ddp_(&ddp), previous_(ddp.require_sync_) {
      ddp.require_sync_ = false;
    }
    NoSync(NoSync&& other) noexcept : ddp_(other.ddp_), previous_(other.previous_) { other.ddp_ = nullptr; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;
    NoSync& operator=(NoSync&&) = delete;
    ~NoSync() {
      if (ddp_) ddp_->require_sync_ = previous_;
    }

   private:
    DistributedDataParallel* ddp_;
    bool previous_;
  };
  NoSync no_sync() { return NoSync(*this); }

  std::string type_name() const override { return "DistributedDataParallel"; }
  std::string extra_repr() const override;

 private:
  // Each tensor by itself, awaited on the host (construction: the first difference is named).
  void broadcast_from_rank0(const nn::Named<Tensor>& tensors, const char* kind);
  // Before each training forward: the buffers packed into one tensor per dtype, one broadcast each (a BatchNorm
  // model has three buffers per layer), which the compute stream waits for (on a GPU the host does not).
  void broadcast_buffers_from_rank0();

  std::shared_ptr<nn::Module> module_;
  std::shared_ptr<Communicator> comm_;
  DdpOptions options_;
  std::shared_ptr<Reducer> reducer_;
  bool require_sync_ = true;
  int64_t step_ = 0;
};

}  // namespace tessera::dist
