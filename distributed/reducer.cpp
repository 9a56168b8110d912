// The bucketed gradient reducer (see reducer.h for the story of a step and its invariants).
#include "distributed/reducer.h"


#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "distributed/collective_call.h"
#include "core/log.h"
#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/backend_of.h"
#include "core/check.h"
#include "core/ops/factory.h"

namespace tessera::dist {

namespace {

// dst = src * scale: one backend pass over contiguous f32/f64 (the usual gradients), else a copy and a scaling pass.
void copy_scaled(Tensor& dst, const Tensor& src, double scale) {
  const bool one_pass = dst.is_contiguous() && src.is_contiguous() && dst.dtype() == src.dtype() &&
                        dst.device() == src.device() && (dst.dtype() == DType::f32 || dst.dtype() == DType::f64);
  if (!one_pass) {
    dst.copy_(src);
    dst.mul_(scale);
    return;
  }
  backend_of(dst.device()).scale_copy(dst.dtype(), dst.raw_data(), src.raw_data(), dst.numel(), scale);
  dst.bump_version();
}

}  // namespace

std::shared_ptr<Reducer> Reducer::create(nn::Named<Tensor> params, std::shared_ptr<Communicator> comm,
                                         ReducerOptions options) {
  std::shared_ptr<Reducer> reducer(new Reducer(std::move(params), std::move(comm), std::move(options)));
  reducer->register_hooks();
  return reducer;
}

Reducer::Reducer(nn::Named<Tensor> params, std::shared_ptr<Communicator> comm, ReducerOptions options)
    : comm_(std::move(comm)), options_(std::move(options)) {
  TESSERA_CHECK(comm_ != nullptr, "Reducer: no communicator");
  for (auto& [name, tensor] : params) {
    TESSERA_CHECK(tensor.requires_grad() && tensor.is_leaf(), "Reducer: parameter '", name,
                  "' must be a leaf that requires grad");
    TESSERA_CHECK(tensor.is_contiguous(), "Reducer: parameter '", name, "' must be contiguous");
    param_info_.push_back({name, tensor.numel(), tensor.dtype()});
    params_.push_back(tensor);
  }
  plans_ = assign_buckets(param_info_, options_.buckets);
  slots_.resize(params_.size());
  for (size_t b = 0; b < plans_.size(); ++b) {
    const BucketPlan& plan = plans_[b];
    for (size_t k = 0; k < plan.params.size(); ++k) slots_[plan.params[k]] = {b, plan.offsets[k]};
    Bucket bucket;
    bucket.flat = zeros({plan.numel}, {.dtype = plan.dtype, .device = params_[plan.params[0]].device()});
    buckets_.push_back(std::move(bucket));
    log::debug("ddp: bucket {} holds {} parameters ({} x {}, {}), first '{}', last '{}'", b, plan.params.size(),
               plan.numel, dtype_name(plan.dtype), format_bytes(static_cast<double>(plan.bytes())),
               param_info_[plan.params.front()].name, param_info_[plan.params.back()].name);
  }
  ready_.assign(params_.size(), false);
  used_.assign(params_.size(), true);
  accumulated_.assign(params_.size(), false);
}

void Reducer::register_hooks() {
  std::weak_ptr<Reducer> self = weak_from_this();
  for (size_t i = 0; i < params_.size(); ++i) {
    params_[i].register_post_accumulate_grad_hook([self, i](Tensor&) {
      if (auto reducer = self.lock()) reducer->autograd_hook(i);
    });
  }
}

Tensor Reducer::bucket_view(size_t index) const {
  const Slot& slot = slots_[index];
  const Shape& shape = params_[index].shape();
  return make_view(buckets_[slot.bucket].flat, shape, contiguous_strides(shape), slot.offset);
}

std::vector<bool> Reducer::parameters_in_graph(const Tensor& output) const {
  std::unordered_map<const TensorImpl*, size_t> index_of;
  for (size_t i = 0; i < params_.size(); ++i) index_of[params_[i].impl()] = i;
  std::vector<bool> found(params_.size(), false);
  auto mark_leaf = [&](const TensorImpl* leaf) {
    if (auto it = index_of.find(leaf); it != index_of.end()) found[it->second] = true;
  };
  if (output.is_leaf()) mark_leaf(output.impl());
  std::vector<autograd::Node*> stack;
  std::unordered_set<autograd::Node*> seen;
  if (output.grad_fn()) stack.push_back(output.grad_fn().get());
  while (!stack.empty()) {
    autograd::Node* node = stack.back();
    stack.pop_back();
    if (!seen.insert(node).second) continue;
    if (auto* accumulate = dynamic_cast<autograd::AccumulateGrad*>(node)) mark_leaf(accumulate->leaf().get());
    for (const autograd::Edge& edge : node->next_edges)
      if (edge.valid()) stack.push_back(edge.node.get());
  }
  return found;
}

std::string Reducer::unfinished_parameters() const {
  std::string names;
  for (size_t i = 0; i < params_.size(); ++i)
    if (!ready_[i]) names += (names.empty() ? "'" : ", '") + param_info_[i].name + "'";
  return names;
}

void Reducer::prepare_for_backward(const Tensor& output, int64_t step) {
  const bool started = stats_.buckets_launched > 0 || std::find(ready_.begin(), ready_.end(), true) != ready_.end();
  if (armed_ && !stats_.finalized && started) {
    armed_ = false;
    TESSERA_THROW("DistributedDataParallel: step ", stats_.step, " started reducing gradients but never finished: ",
                  "these parameters got no gradient in its backward: ", unfinished_parameters(),
                  ". Every parameter must get a gradient in every step (or construct DistributedDataParallel with "
                  "find_unused_parameters=true), and every forward in training mode must be followed by backward.");
  }
  armed_ = true;
  stats_ = {step, 0, false};
  last_step_works_.clear();
  ready_.assign(params_.size(), false);
  next_bucket_ = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    buckets_[b].pending = plans_[b].params.size();
    buckets_[b].work.reset();
  }
  const std::vector<bool> in_graph = parameters_in_graph(output);
  not_in_graph_.clear();
  for (size_t i = 0; i < params_.size(); ++i)
    if (!in_graph[i]) not_in_graph_.push_back(i);
  backward_started_ = false;
  // Nothing is checked, marked or communicated until backward starts (the step's first hook), as PyTorch marks
  // unused parameters at the first hook: a forward whose output never reaches backward (a probe, an evaluation
  // forward with grad mode on) leaves nothing behind. When no hook will fire (no parameter in the graph), now.
  if (not_in_graph_.size() == params_.size()) start_backward();
}

void Reducer::start_backward() {
  backward_started_ = true;
  if (!options_.find_unused_parameters) {
    if (!not_in_graph_.empty()) {
      const size_t i = not_in_graph_.front();
      armed_ = false;
      TESSERA_THROW("DistributedDataParallel: parameter '", param_info_[i].name, "' (shape ",
                    shape_str(params_[i].shape()), ") is not used to compute the output at step ", stats_.step,
                    ", so it would get no gradient and its bucket could never be all-reduced. Construct "
                    "DistributedDataParallel with find_unused_parameters=true if some parameters are unused in some "
                    "steps, or remove it from the model.");
    }
    mark_bucket_ready();  // only a model without parameters has nothing pending now
    return;
  }
  // Whose hooks fired under no_sync since the last synchronised step: this step reduces what they accumulated.
  const std::vector<bool> accumulated = std::exchange(accumulated_, std::vector<bool>(params_.size(), false));
  // Which parameters some rank used: those nobody used keep their .grad() as it is, like one process would.
  // A parameter left out of this step's graph but holding a gradient accumulated under no_sync counts as used.
  used_.assign(params_.size(), true);
  for (size_t i : not_in_graph_) used_[i] = accumulated[i] && params_[i].grad().defined();
  // A control message: host memory, all-reduced over MPI beside the gradients.
  used_counts_ = zeros({static_cast<int64_t>(params_.size())}, {.dtype = DType::i32, .device = Device()});
  int32_t* counts = used_counts_.data_ptr<int32_t>();
  for (size_t i = 0; i < params_.size(); ++i) counts[i] = used_[i] ? 1 : 0;
  used_work_ = comm_->allreduce(used_counts_, ReduceOp::sum, {"map of used parameters", stats_.step});
  // The slot of a parameter outside the graph takes its .grad() whenever it has one, used or not (PyTorch's
  // mark_variable_ready_dense): a gradient kept from earlier synchronised steps (no zero_grad between them) is this
  // rank's share of the sum, as in one process; a zero would shrink it where another rank uses the parameter.
  // "Used" only decides whether .grad() is written back (a parameter that no rank used keeps its .grad()).
  for (size_t i : not_in_graph_) {
    if (params_[i].grad().defined()) mark_variable_ready(i);
    else mark_unused_variable_ready(i);
  }
  mark_bucket_ready();
}

void Reducer::autograd_hook(size_t index) {
  if (!armed_ || stats_.finalized) {  // no_sync(), evaluation, or a backward not started by our forward
    accumulated_[index] = true;  // .grad() holds a local gradient: the next synchronised step reduces it
    return;
  }
  if (!backward_started_) start_backward();
  TESSERA_CHECK(!ready_[index], "DistributedDataParallel: parameter '", param_info_[index].name,
                "' got a second gradient in step ", stats_.step, " before its all-reduce finished");
  mark_variable_ready(index);
  mark_bucket_ready();
}

void Reducer::mark_variable_ready(size_t index) {
  const Tensor& param = params_[index];
  const Tensor grad = param.grad();
  Tensor slot = bucket_view(index);
  NoGradGuard no_grad;
  if (options_.gradient_as_bucket_view) {
    // After the first step .grad() is the slot itself and backward accumulated into it in place: nothing to copy.
    const bool is_slot = grad.impl()->storage == slot.impl()->storage && grad.offset() == slot.offset();
    if (!is_slot) {
      slot.copy_(grad);
      param.set_grad(slot);
    }
  } else {
    slot.copy_(grad);
  }
  ready_[index] = true;
  --buckets_[slots_[index].bucket].pending;
}

void Reducer::mark_unused_variable_ready(size_t index) {
  NoGradGuard no_grad;
  bucket_view(index).zero_();
  ready_[index] = true;
  --buckets_[slots_[index].bucket].pending;
}

void Reducer::mark_bucket_ready() {
  if (!options_.overlap_with_backward) {
    for (const Bucket& bucket : buckets_)
      if (bucket.pending > 0) return;
  }
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) all_reduce_bucket(next_bucket_++);
  if (next_bucket_ == buckets_.size() && !stats_.finalized) finalize_backward();
}

void Reducer::all_reduce_bucket(size_t bucket) {
  buckets_[bucket].work = comm_->allreduce(buckets_[bucket].flat, ReduceOp::sum,
                                           {"bucket " + std::to_string(bucket), stats_.step});
  ++stats_.buckets_launched;
}

void Reducer::finalize_backward() {
  NoGradGuard no_grad;
  const double scale = 1.0 / comm_->size();
  std::vector<bool> used_somewhere(params_.size(), true);
  if (used_work_) {
    used_work_->wait();
    used_work_.reset();
    const int32_t* counts = used_counts_.data_ptr<int32_t>();
    for (size_t i = 0; i < params_.size(); ++i) used_somewhere[i] = counts[i] > 0;
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    bucket.work->wait_on_stream();  // on a GPU with nccl: the compute stream waits for the NCCL stream, not the host
    last_step_works_.push_back(std::move(bucket.work));
    // Views: the averages stay in the bucket. Copies: averaged on the way back into .grad(), one pass.
    if (options_.gradient_as_bucket_view) bucket.flat.mul_(scale);
    for (size_t index : plans_[b].params) {
      if (!used_somewhere[index]) continue;
      const Tensor& param = params_[index];
      const Tensor slot = bucket_view(index);
      if (options_.gradient_as_bucket_view) {
        if (!used_[index]) param.set_grad(slot);  // used elsewhere only; used here: .grad() is the slot already
        continue;
      }
      Tensor grad = param.grad();
      if (!grad.defined()) {  // used elsewhere only: this rank's gradient starts now
        grad = empty(slot.shape(), {.dtype = slot.dtype(), .device = slot.device()});
        param.set_grad(grad);
      }
      copy_scaled(grad, slot, scale);
    }
  }
  stats_.finalized = true;
  armed_ = false;
}

}  // namespace tessera::dist
