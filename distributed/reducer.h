#pragma once
// Reducer: averages gradients over all ranks in buckets, while backward is still running (PyTorch c10d's
// reducer, STYLE.md). The story of one step:
//   prepare_for_backward(output, step)  (from DistributedDataParallel::forward) resets the buckets and walks the
//       autograd graph of `output` to find the parameters that will get no gradient this step;
//   autograd_hook(i)                    a parameter's post-accumulate-grad hook: its final gradient exists;
//   mark_variable_ready(i)              copies the gradient into its slot of the bucket's flat buffer (or makes
//                                       the gradient a view of that slot) and counts the bucket down;
//   mark_bucket_ready(b)                launches every bucket, in bucket order, whose predecessors are launched;
//   all_reduce_bucket(b)                Communicator::allreduce(sum) of the flat buffer: the MPI backend runs it on
//                                       its communication thread, nccl on its stream, so it overlaps the rest of
//                                       backward;
//   finalize_backward()                 (once the last bucket is launched, still inside backward) waits for every
//                                       bucket and divides by the world size on the way back into .grad() (in the
//                                       bucket itself when gradients are views of it: nothing to copy).
// On a GPU with nccl nothing here waits on the host: a bucket's all-reduce is queued on the NCCL stream after an
// event on the compute stream (the kernels that wrote it), and finalize_backward makes the compute stream wait for
// each bucket's event (Work::wait_on_stream) before the copies back, so the optimizer runs after the all-reduces.
// So when loss.backward() returns, every rank holds the same averaged gradients and the optimizer may step.
//
// Invariants:
// - Every rank launches the same all-reduces in the same order (bucket 0, 1, ...), whatever order its hooks fire
//   in: bucket b is launched only after buckets 0..b-1, and the plan is the same on every rank (same model, checked
//   by the fingerprint; same options).
// - A bucket's buffer is not touched between its launch and finalize_backward's wait.
// - A parameter that will get no gradient is found by prepare_for_backward and dealt with at the step's first hook
//   (start_backward; at once when no hook will fire), so a forward without backward leaves nothing behind: an
//   error naming it (a rank whose bucket never fills would leave the others waiting in the all-reduce), or, with
//   find_unused_parameters, it counts as ready then: its slot takes its .grad() when it has one (accumulated under
//   no_sync() or kept from earlier steps), else zero; after the step, parameters that no rank used (in this step's
//   graph or under no_sync since the last one) keep .grad() untouched.
// - Hooks hold a weak reference: after the reducer is gone they do nothing.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/nn/module.h"
#include "distributed/bucket_assignment.h"
#include "distributed/communicator.h"

namespace tessera::dist {

struct ReducerOptions {
  BucketAssignmentOptions buckets;
  bool find_unused_parameters = false;
  bool gradient_as_bucket_view = false;
  // false: no bucket is launched before the last gradient is ready (the "all-reduce after backward" baseline the
  // ddp benchmark compares overlap against).
  bool overlap_with_backward = true;
};

// Per-step counters, for tests and benchmarks.
struct ReducerStats {
  int64_t step = -1;
  size_t buckets_launched = 0;   // in this step so far
  bool finalized = false;        // this step's gradients are averaged
};

class Reducer : public std::enable_shared_from_this<Reducer> {
 public:
  // `params`: the trainable parameters in registration order (identical on every rank). Registers one
  // post-accumulate-grad hook per parameter.
  static std::shared_ptr<Reducer> create(nn::Named<Tensor> params, std::shared_ptr<Communicator> comm,
                                         ReducerOptions options = {});
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // Arms the reducer for the backward of `output` at training step `step`. Throws when the previous armed step
  // started reducing but never finished (some parameter got no gradient), naming those parameters. A parameter not
  // part of output's graph (without find_unused_parameters) is an error naming it at backward's first hook.
  void prepare_for_backward(const Tensor& output, int64_t step);

  const std::vector<BucketPlan>& buckets() const { return plans_; }
  const std::vector<BucketParam>& params() const { return param_info_; }
  const ReducerStats& stats() const { return stats_; }
  // The all-reduces of the last finished step, in bucket order (for timelines: Work::timing()); kept until the
  // next step is armed.
  const std::vector<WorkPtr>& last_step_works() const { return last_step_works_; }

 private:
  Reducer(nn::Named<Tensor> params, std::shared_ptr<Communicator> comm, ReducerOptions options);
  void register_hooks();

  // The armed step's first hook (or prepare_for_backward, when no hook will fire): the unused-parameter check or
  // marking, and the used-parameter map's all-reduce.
  void start_backward();
  void autograd_hook(size_t index);
  void mark_variable_ready(size_t index);
  void mark_unused_variable_ready(size_t index);
  void mark_bucket_ready();
  void all_reduce_bucket(size_t bucket);
  void finalize_backward();

  // Which parameters output's graph reaches (their AccumulateGrad nodes).
  std::vector<bool> parameters_in_graph(const Tensor& output) const;
  // The slot of parameter i in its bucket's flat buffer, shaped like the parameter.
  Tensor bucket_view(size_t index) const;
  std::string unfinished_parameters() const;

  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;
  };
  struct Bucket {
    Tensor flat;              // 1-D, contiguous, the bucket's dtype
    size_t pending = 0;       // parameters not ready yet this step
    WorkPtr work;             // this step's all-reduce, once launched
  };

  std::vector<Tensor> params_;
  std::vector<BucketParam> param_info_;
  std::shared_ptr<Communicator> comm_;
  ReducerOptions options_;
  std::vector<BucketPlan> plans_;
  std::vector<Slot> slots_;       // per parameter
  std::vector<Bucket> buckets_;

  // State of the armed step.
  bool armed_ = false;
  std::vector<bool> ready_;       // per parameter
  std::vector<bool> used_;        // per parameter: part of the graph, or holding a gradient accumulated under
                                  // no_sync (always true without find_unused_parameters)
  // Per parameter: a hook fired outside a synchronised backward (no_sync) since the last armed step, so .grad()
  // holds a local gradient that the next synchronised step must reduce even if that step's graph leaves it out.
  std::vector<bool> accumulated_;
  size_t next_bucket_ = 0;        // the next bucket to launch
  std::vector<size_t> not_in_graph_;  // the armed step's parameters outside its output's graph
  bool backward_started_ = false; // start_backward() ran for the armed step
  Tensor used_counts_;            // i32 per parameter, summed over ranks (find_unused_parameters only)
  WorkPtr used_work_;
  ReducerStats stats_;
  std::vector<WorkPtr> last_step_works_;
};

}  // namespace tessera::dist
