// Invariants (emulated_gpu_backend.h): one capture at a time, its replays queued on the stream it captured; the
// recording holds every argument by value (an IndexBounds' names as strings, an optimizer's slots as a vector), so a
// replay needs nothing the captured step's host code held.
#include "tests/support/emulated_gpu_backend.h"

#include <string>
#include <utility>

#include "core/check.h"

namespace tessera::kernels::test {

namespace {

// IndexBounds names point into the caller's strings: the recording keeps copies.
struct OwnedBounds {
  explicit OwnedBounds(const IndexBounds& b) : size(b.size), op(b.op), what(b.what), context(b.context) {}
  IndexBounds get() const { return {.size = size, .op = op.c_str(), .what = what.c_str(), .context = context.c_str()}; }
  int64_t size;
  std::string op, what, context;
};

}  // namespace

EmulatedGpuBackend::EmulatedGpuBackend(std::unique_ptr<Backend> inner, Late late)
    : inner_(std::move(inner)), late_(late) {
  streams_.insert(&compute_);
}

EmulatedGpuBackend::~EmulatedGpuBackend() {
  run_all();  // a failure left unreported dies with the device
  for (StreamQueue* stream : retired_) delete stream;
}

namespace {
thread_local void* current_side = nullptr;  // the calling thread's current stream (null: compute); one test device
constexpr size_t kRunAheadLimit = 4096;  // queued work a late stream holds before it runs its oldest half
}  // namespace

template <typename Work>
void EmulatedGpuBackend::queue(Work&& work, bool bookkeeping) {
  if (capture_) {
    capture_->work.emplace_back(std::forward<Work>(work));
    return;
  }
  std::lock_guard lock(streams_mutex_);
  enqueue(current_queue(), std::forward<Work>(work), bookkeeping);
}

void EmulatedGpuBackend::enqueue(StreamQueue* stream, std::function<void()> work, bool bookkeeping) {
  stream->push(std::move(work), bookkeeping);
  const bool late = (stream == &compute_) == (late_ == Late::compute);
  if (!late)
    run_until(stream, stream->queued);
  else if (stream->pending.size() > kRunAheadLimit)
    run_until(stream, stream->ran + kRunAheadLimit / 2);
}

EmulatedGpuBackend::StreamQueue* EmulatedGpuBackend::current_queue() {
  return current_side ? static_cast<StreamQueue*>(current_side) : &compute_;
}

void EmulatedGpuBackend::run_until(StreamQueue* stream, uint64_t position) {
  if (stream == nullptr) return;  // an event never recorded
  std::lock_guard lock(streams_mutex_);
  TESSERA_CHECK(streams_.count(stream) || retired_.count(stream), name(), ": an event of an unknown stream");
  TESSERA_CHECK(position <= stream->queued, name(), ": an event past its stream's work");
  while (stream->ran < position) {
    StreamQueue::Work work = std::move(stream->pending.front());
    stream->pending.pop_front();
    ++stream->ran;
    if (kernel_error_ && !work.bookkeeping) continue;
    try {
      work.run();
    } catch (...) {
      if (!kernel_error_) kernel_error_ = std::current_exception();
    }
  }
}

void EmulatedGpuBackend::report_kernel_error() {
  std::lock_guard lock(streams_mutex_);
  if (std::exception_ptr error = std::exchange(kernel_error_, nullptr)) std::rethrow_exception(error);
}

void EmulatedGpuBackend::run_all() {
  std::lock_guard lock(streams_mutex_);
  for (StreamQueue* stream : streams_) run_until(stream, stream->queued);
}

EventHandle EmulatedGpuBackend::create_event() { return new Event(); }
void EmulatedGpuBackend::destroy_event(EventHandle event) { delete static_cast<Event*>(event); }

void EmulatedGpuBackend::record_event(EventHandle handle) {
  std::lock_guard lock(streams_mutex_);
  StreamQueue* stream = current_queue();
  *static_cast<Event*>(handle) = {stream, stream->queued, std::chrono::steady_clock::now(), capture_ ? capture_id_ : 0};
}

EmulatedGpuBackend::Event EmulatedGpuBackend::recorded(EventHandle handle) {
  std::lock_guard lock(streams_mutex_);  // another thread may be recording it
  return *static_cast<Event*>(handle);
}

double EmulatedGpuBackend::elapsed_ms(EventHandle start, EventHandle end) {
  synchronize_event(start);
  synchronize_event(end);
  return std::chrono::duration<double, std::milli>(static_cast<Event*>(end)->at - static_cast<Event*>(start)->at)
      .count();
}

// As cudaStreamWaitEvent: the wait is for the event's latest record at the time of the call, and it holds back the
// current stream's later work, not the host.
void EmulatedGpuBackend::wait_event(EventHandle handle) {
  const Event event = recorded(handle);
  // As CUDA (cudaErrorStreamCaptureIsolation): a captured wait may only be for an event recorded into the capture.
  TESSERA_CHECK(!capture_ || event.capture == capture_id_, "wait_event on ", name(), " while a graph is being "
                "captured: the event was recorded outside the capture, which CUDA refuses; wait before capture() or "
                "record the event inside it");
  queue([this, event] { run_until(event.stream, event.position); }, /*bookkeeping=*/true);
}

void EmulatedGpuBackend::synchronize_event(EventHandle handle) {
  check_not_capturing("synchronize_event");
  const Event event = recorded(handle);
  run_until(event.stream, event.position);
  report_kernel_error();
}

// The emulator moves a stream only when asked: a query is asked, so it runs the work and says it passed.
bool EmulatedGpuBackend::query_event(EventHandle handle) {
  synchronize_event(handle);
  return true;
}

StreamHandle EmulatedGpuBackend::create_stream() {
  std::lock_guard lock(streams_mutex_);
  auto* stream = new StreamQueue();
  streams_.insert(stream);
  return stream;
}

void EmulatedGpuBackend::destroy_stream(StreamHandle handle) {
  auto* stream = static_cast<StreamQueue*>(handle);
  if (stream == nullptr) return;
  std::lock_guard lock(streams_mutex_);
  run_until(stream, stream->queued);
  // Retired, not freed: waits and events queued elsewhere may still name it (CUDA allows that), and passed.
  streams_.erase(stream);
  retired_.emplace(stream);
  // Its blocks join compute's order, as CudaBackend's allocator retires a destroyed stream's blocks into compute's
  // cache: one still in use is freed in compute's order, after the work queued before its free.
  for (auto& [ptr, owner] : block_streams_)
    if (owner == stream) owner = &compute_;
  std::erase_if(pinned_uses_, [stream](const auto& entry) { return entry.second.stream == stream; });
  if (current_side == stream) current_side = nullptr;
}

StreamHandle EmulatedGpuBackend::current_stream() { return current_side; }
void EmulatedGpuBackend::set_current_stream(StreamHandle stream) { current_side = stream; }

void EmulatedGpuBackend::copy_from_host_async(void* dst, const void* pinned_src, size_t nbytes) {
  queue([this, dst, pinned_src, nbytes] { inner_->copy_from_host(dst, pinned_src, nbytes); });
  note_pinned_use(pinned_src);
}

void EmulatedGpuBackend::copy_to_host_async(void* pinned_dst, const void* src, size_t nbytes) {
  queue([this, pinned_dst, src, nbytes] { inner_->copy_to_host(pinned_dst, src, nbytes); });
  note_pinned_use(pinned_dst);
}

void EmulatedGpuBackend::note_pinned_use(const void* pinned) {
  if (capture_) return;  // the graph's copies run at its replays
  std::lock_guard lock(streams_mutex_);
  StreamQueue* stream = current_queue();
  pinned_uses_[static_cast<const char*>(pinned)] = {stream, stream->queued};
}

// Back to the pool after the copies that use it (on one stream: in its order; on several: once they all ran).
void EmulatedGpuBackend::free_pinned_host(void* ptr, size_t nbytes) {
  std::lock_guard lock(streams_mutex_);
  const auto* start = static_cast<const char*>(ptr);
  std::set<StreamQueue*> pending;
  for (auto it = pinned_uses_.lower_bound(start); it != pinned_uses_.end() && it->first < start + nbytes;) {
    if (it->second.stream->ran < it->second.position) pending.insert(it->second.stream);
    it = pinned_uses_.erase(it);
  }
  if (pending.size() == 1) {
    StreamQueue* stream = *pending.begin();
    enqueue(stream, [this, ptr, nbytes] { inner_->free_pinned_host(ptr, nbytes); }, /*bookkeeping=*/true);
    return;
  }
  for (StreamQueue* stream : pending) run_until(stream, stream->queued);
  inner_->free_pinned_host(ptr, nbytes);
}

void EmulatedGpuBackend::check_not_capturing(const char* entry) const {
  TESSERA_CHECK(capture_ == nullptr, entry, " on ", name(),
                " while a graph is being captured: a captured step "
                "cannot wait for the device or move data to or from the host (read values after the replay; copy "
                "inputs into the graph's static tensors before it)");
}

EmulatedGpuBackend::Graph* EmulatedGpuBackend::owner_of(void* ptr) const {
  if (capture_ && capture_->owned.count(ptr)) return capture_.get();
  for (Graph* graph : graphs_)
    if (graph->owned.count(ptr)) return graph;
  return nullptr;
}

void* EmulatedGpuBackend::allocate(size_t nbytes) {
  void* ptr = inner_->allocate(nbytes);
  if (capture_) {
    capture_->owned.emplace(ptr, nbytes);
  } else {
    std::lock_guard lock(streams_mutex_);
    block_streams_[ptr] = current_queue();
  }
  return ptr;
}

void EmulatedGpuBackend::record_stream(void* ptr, StreamHandle handle) {
  std::lock_guard lock(streams_mutex_);
  block_uses_[ptr].insert(handle ? static_cast<StreamQueue*>(handle) : &compute_);
}

void EmulatedGpuBackend::deallocate(void* ptr, size_t nbytes) {
  std::lock_guard lock(streams_mutex_);  // throughout: the block's streams must not be destroyed meanwhile
  // The streams whose queued work may still use the block: the one that allocated it, and those record_stream
  // named that are still live (a destroyed stream's work has all run).
  std::set<StreamQueue*> users;
  if (auto it = block_streams_.find(ptr); it != block_streams_.end()) {
    users.insert(it->second);
    block_streams_.erase(it);
  }
  if (auto it = block_uses_.find(ptr); it != block_uses_.end()) {
    for (StreamQueue* user : it->second)
      if (streams_.count(user)) users.insert(user);
    block_uses_.erase(it);
  }
  if (Graph* graph = owner_of(ptr)) {
    graph->released.insert(ptr);  // the graph's replays still write it
  } else if (capture_) {
    capture_->deferred.emplace_back(ptr, nbytes);  // captured work may still use it
  } else if (users.empty()) {
    inner_->deallocate(ptr, nbytes);  // not tracked: no stream's queued work can use it
  } else {
    // Queued on each user, freed by the last of them to reach it: no stream is made to run early.
    auto waiting = std::make_shared<size_t>(users.size());
    for (StreamQueue* user : users) {
      enqueue(user, [this, ptr, nbytes, waiting] {
        if (--*waiting == 0) inner_->deallocate(ptr, nbytes);
      }, /*bookkeeping=*/true);
    }
  }
}

// From pageable memory the bytes are staged at once (the caller may reuse its buffer) and land in stream order.
void EmulatedGpuBackend::copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  check_not_capturing("copy_from_host");
  const auto* bytes = static_cast<const char*>(host_src);
  queue([this, dst, staged = std::vector<char>(bytes, bytes + nbytes)] {
    inner_->copy_from_host(dst, staged.data(), staged.size());
  });
}

// Pageable memory: the copy is queued (not noted as a pinned use) and waited for at once.
void EmulatedGpuBackend::copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  check_not_capturing("copy_to_host");
  queue([this, host_dst, src, nbytes] { inner_->copy_to_host(host_dst, src, nbytes); });
  synchronize();
}

// Numbers settled: frees wait in their streams' queues here, where a GPU's caching allocator takes them at once.
MemoryStats EmulatedGpuBackend::memory_stats() const {
  auto* self = const_cast<EmulatedGpuBackend*>(this);
  self->run_all();
  self->report_kernel_error();
  return inner_->memory_stats();
}

// From settled numbers, as memory_stats.
void EmulatedGpuBackend::reset_peak_memory_stats() {
  run_all();
  report_kernel_error();
  inner_->reset_peak_memory_stats();
}

void EmulatedGpuBackend::empty_cache() {
  check_not_capturing("empty_cache");
  run_all();
  report_kernel_error();
  inner_->empty_cache();
}

// Waits for the current stream only, as a GPU does: the other streams are not this one's business.
void EmulatedGpuBackend::synchronize() {
  check_not_capturing("synchronize");
  std::lock_guard lock(streams_mutex_);
  StreamQueue* stream = current_queue();
  run_until(stream, stream->queued);
  report_kernel_error();
}

void EmulatedGpuBackend::norm_power_sum(DType dtype, const void* data, int64_t n, double p, double* out) {
  queue([this, dtype, data, n, p, out] { inner_->norm_power_sum(dtype, data, n, p, out); });
}

void EmulatedGpuBackend::begin_capture() {
  TESSERA_CHECK(capture_ == nullptr, "begin_capture on ", name(), ": a graph is already being captured");
  capture_ = std::make_unique<Graph>();
  capture_->stream = current_queue();
  ++capture_id_;
}

GraphHandle EmulatedGpuBackend::end_capture() {
  TESSERA_CHECK(capture_ != nullptr, "end_capture on ", name(), ": no graph is being captured");
  Graph* graph = capture_.release();
  graphs_.insert(graph);
  return graph;
}

void EmulatedGpuBackend::replay_graph(GraphHandle handle) {
  check_not_capturing("replay_graph");
  auto* graph = static_cast<Graph*>(handle);
  TESSERA_CHECK(graphs_.count(graph), "replay_graph on ", name(), ": not a live graph");
  TESSERA_CHECK(current_queue() == graph->stream, "replay_graph on ", name(),
                ": the current stream is not the one the graph was captured on; replay it on that stream");
  queue([graph] {
    for (const auto& work : graph->work) work();
  });
}

void EmulatedGpuBackend::destroy_graph(GraphHandle handle) {
  auto* graph = static_cast<Graph*>(handle);
  if (graph == nullptr) return;
  run_all();  // replays still queued use the graph
  TESSERA_CHECK(graphs_.erase(graph), "destroy_graph on ", name(), ": not a live graph");
  std::unique_ptr<Graph> owned(graph);
  // Blocks still held by tensors stay allocated (their tensors free them later, in the captured stream's order, as
  // CudaBackend's allocator rekeys a released pool to it); the rest go back now.
  std::lock_guard lock(streams_mutex_);
  StreamQueue* heir = streams_.count(graph->stream) ? graph->stream : &compute_;
  for (const auto& [ptr, nbytes] : graph->owned) {
    if (graph->released.count(ptr))
      inner_->deallocate(ptr, nbytes);
    else
      block_streams_[ptr] = heir;
  }
  for (const auto& [ptr, nbytes] : graph->deferred) inner_->deallocate(ptr, nbytes);
}

void EmulatedGpuBackend::copy(void* dst, const void* src, size_t nbytes) {
  queue([this, dst, src, nbytes] { inner_->copy(dst, src, nbytes); });
}

void EmulatedGpuBackend::memset_zero(void* dst, size_t nbytes) {
  queue([this, dst, nbytes] { inner_->memset_zero(dst, nbytes); });
}

void EmulatedGpuBackend::unary(UnaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& in,
                                  const OpScalars& scalars) {
  queue([this, op, loop, out, in, scalars] { inner_->unary(op, loop, out, in, scalars); });
}

void EmulatedGpuBackend::binary(BinaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a,
                                   const StridedArg& b, const OpScalars& scalars) {
  queue([this, op, loop, out, a, b, scalars] { inner_->binary(op, loop, out, a, b, scalars); });
}

void EmulatedGpuBackend::ternary(TernaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a,
                                    const StridedArg& b, const StridedArg& c, const OpScalars& scalars) {
  queue([this, op, loop, out, a, b, c, scalars] { inner_->ternary(op, loop, out, a, b, c, scalars); });
}

void EmulatedGpuBackend::fill(const LoopShape& loop, const StridedArg& out, double value) {
  queue([this, loop, out, value] { inner_->fill(loop, out, value); });
}

void EmulatedGpuBackend::arange(void* out, DType dtype, int64_t n, double start, double step) {
  queue([this, out, dtype, n, start, step] { inner_->arange(out, dtype, n, start, step); });
}

void EmulatedGpuBackend::sum(const void* in, void* out, DType dtype, const ReduceShape& shape) {
  queue([this, in, out, dtype, shape] { inner_->sum(in, out, dtype, shape); });
}

void EmulatedGpuBackend::variance(const void* in, void* out, DType dtype, const ReduceShape& shape, double divisor) {
  queue([this, in, out, dtype, shape, divisor] { inner_->variance(in, out, dtype, shape, divisor); });
}

void EmulatedGpuBackend::extreme(bool is_max, const void* in, void* values, int64_t* indices, DType dtype,
                                    const ReduceShape& shape) {
  queue([this, is_max, in, values, indices, dtype, shape] {
    inner_->extreme(is_max, in, values, indices, dtype, shape);
  });
}

void EmulatedGpuBackend::extreme_backward(const void* grad, const int64_t* indices, void* grad_in, DType dtype,
                                             const ReduceShape& shape) {
  queue(
      [this, grad, indices, grad_in, dtype, shape] { inner_->extreme_backward(grad, indices, grad_in, dtype, shape); });
}

void EmulatedGpuBackend::softmax(const void* x, void* y, DType dtype, const ReduceShape& layout, bool log) {
  queue([this, x, y, dtype, layout, log] { inner_->softmax(x, y, dtype, layout, log); });
}

void EmulatedGpuBackend::softmax_backward(const void* y, const void* g, void* gx, DType dtype,
                                             const ReduceShape& layout, bool log) {
  queue([this, y, g, gx, dtype, layout, log] { inner_->softmax_backward(y, g, gx, dtype, layout, log); });
}

void EmulatedGpuBackend::check_class_targets(const int64_t* target, int64_t n, int64_t ignore_index,
                                                const IndexBounds& bounds, int64_t* count) {
  queue([this, target, n, ignore_index, owned = OwnedBounds(bounds), count] {
    inner_->check_class_targets(target, n, ignore_index, owned.get(), count);
  });
}

void EmulatedGpuBackend::cross_entropy(const void* logits, const int64_t* target, void* probs, void* losses,
                                          DType dtype, DType io_dtype, const ReduceShape& layout,
                                          int64_t ignore_index, double label_smoothing) {
  queue([this, logits, target, probs, losses, dtype, io_dtype, layout, ignore_index, label_smoothing] {
    inner_->cross_entropy(logits, target, probs, losses, dtype, io_dtype, layout, ignore_index, label_smoothing);
  });
}

void EmulatedGpuBackend::cross_entropy_backward(const void* probs, const int64_t* target, const LossGrad& grad,
                                                   void* gx, DType dtype, DType io_dtype, const ReduceShape& layout,
                                                   int64_t ignore_index, double label_smoothing) {
  queue([this, probs, target, grad, gx, dtype, io_dtype, layout, ignore_index, label_smoothing] {
    inner_->cross_entropy_backward(probs, target, grad, gx, dtype, io_dtype, layout, ignore_index,
                                   label_smoothing);
  });
}

void EmulatedGpuBackend::nll_loss(const void* log_probs, const int64_t* target, void* losses, DType dtype,
                                     const ReduceShape& layout, int64_t ignore_index) {
  queue([this, log_probs, target, losses, dtype, layout, ignore_index] {
    inner_->nll_loss(log_probs, target, losses, dtype, layout, ignore_index);
  });
}

void EmulatedGpuBackend::nll_loss_backward(const int64_t* target, const LossGrad& grad, void* gx, DType dtype,
                                              const ReduceShape& layout, int64_t ignore_index) {
  queue([this, target, grad, gx, dtype, layout, ignore_index] {
    inner_->nll_loss_backward(target, grad, gx, dtype, layout, ignore_index);
  });
}

void EmulatedGpuBackend::sum_losses(const void* losses, void* out, DType dtype, int64_t n, double divisor,
                                       const int64_t* count) {
  queue([this, losses, out, dtype, n, divisor, count] { inner_->sum_losses(losses, out, dtype, n, divisor, count); });
}

void EmulatedGpuBackend::mse_loss(const void* a, const void* b, void* diff, void* squares, void* total, DType dtype,
                                     int64_t n, double divisor) {
  queue([this, a, b, diff, squares, total, dtype, n, divisor] {
    inner_->mse_loss(a, b, diff, squares, total, dtype, n, divisor);
  });
}

void EmulatedGpuBackend::mse_loss_backward(const void* diff, const LossGrad& grad, void* gx, DType dtype,
                                              int64_t n) {
  queue([this, diff, grad, gx, dtype, n] { inner_->mse_loss_backward(diff, grad, gx, dtype, n); });
}

void EmulatedGpuBackend::layer_norm(const void* x, const void* weight, const void* bias, void* y, double* mean,
                                       double* rstd, DType dtype, int64_t rows, int64_t d, double eps) {
  queue([this, x, weight, bias, y, mean, rstd, dtype, rows, d, eps] {
    inner_->layer_norm(x, weight, bias, y, mean, rstd, dtype, rows, d, eps);
  });
}

void EmulatedGpuBackend::layer_norm_backward(const void* x, const void* weight, const void* gy, const double* mean,
                                                const double* rstd, void* gx, double* gweight, double* gbias,
                                                DType dtype, int64_t rows, int64_t d) {
  queue([this, x, weight, gy, mean, rstd, gx, gweight, gbias, dtype, rows, d] {
    inner_->layer_norm_backward(x, weight, gy, mean, rstd, gx, gweight, gbias, dtype, rows, d);
  });
}

void EmulatedGpuBackend::batch_norm_stats(const void* x, DType dtype, const ReduceShape& layout, double* mean,
                                             double* var, double* unbiased_var) {
  queue([this, x, dtype, layout, mean, var, unbiased_var] {
    inner_->batch_norm_stats(x, dtype, layout, mean, var, unbiased_var);
  });
}

void EmulatedGpuBackend::batch_norm(const void* x, void* y, DType dtype, const ReduceShape& layout,
                                       const double* mean, const double* var, const double* weight, const double* bias,
                                       double eps, double* invstd) {
  queue([this, x, y, dtype, layout, mean, var, weight, bias, eps, invstd] {
    inner_->batch_norm(x, y, dtype, layout, mean, var, weight, bias, eps, invstd);
  });
}

void EmulatedGpuBackend::batch_norm_backward(const void* x, const void* gy, void* gx, DType dtype,
                                                const ReduceShape& layout, const double* weight, const double* mean,
                                                const double* invstd, bool training, double* sum_gy,
                                                double* sum_gy_xhat) {
  queue([this, x, gy, gx, dtype, layout, weight, mean, invstd, training, sum_gy, sum_gy_xhat] {
    inner_->batch_norm_backward(x, gy, gx, dtype, layout, weight, mean, invstd, training, sum_gy, sum_gy_xhat);
  });
}

void EmulatedGpuBackend::index_select(DType dtype, const RowLayout& x_layout, void* out, const void* x,
                                         const void* index, int64_t count, const IndexBounds& bounds) {
  queue([this, dtype, x_layout, out, x, index, count, owned = OwnedBounds(bounds)] {
    inner_->index_select(dtype, x_layout, out, x, index, count, owned.get());
  });
}

void EmulatedGpuBackend::index_select_backward(DType dtype, const RowLayout& x_layout, void* grad_x,
                                                  const void* grad_out, const void* index, int64_t count,
                                                  int64_t skip) {
  queue([this, dtype, x_layout, grad_x, grad_out, index, count, skip] {
    inner_->index_select_backward(dtype, x_layout, grad_x, grad_out, index, count, skip);
  });
}

void EmulatedGpuBackend::gather(const LoopShape& loop, const StridedArg& out, const StridedArg& src,
                                   const void* index, int64_t dim_stride, const IndexBounds& bounds) {
  queue([this, loop, out, src, index, dim_stride, owned = OwnedBounds(bounds)] {
    inner_->gather(loop, out, src, index, dim_stride, owned.get());
  });
}

void EmulatedGpuBackend::scatter_add(const LoopShape& loop, const StridedArg& out, const StridedArg& src,
                                        const void* index, int64_t dim_stride, const IndexBounds& bounds) {
  queue([this, loop, out, src, index, dim_stride, owned = OwnedBounds(bounds)] {
    inner_->scatter_add(loop, out, src, index, dim_stride, owned.get());
  });
}

void EmulatedGpuBackend::one_hot(void* out, const void* index, int64_t n, const IndexBounds& bounds) {
  queue([this, out, index, n, owned = OwnedBounds(bounds)] { inner_->one_hot(out, index, n, owned.get()); });
}

void EmulatedGpuBackend::gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a,
                                 const MatrixArg& b, double beta, void* c, int64_t ldc,
                                 const GemmEpilogueArgs& epilogue) {
  queue([this, dtype, m, n, k, alpha, a, b, beta, c, ldc, epilogue] {
    inner_->gemm(dtype, m, n, k, alpha, a, b, beta, c, ldc, epilogue);
  });
}

void EmulatedGpuBackend::gemm_batched(DType dtype, const GemmBatch& batch, int64_t m, int64_t n, int64_t k,
                                      double alpha, const MatrixArg& a, const MatrixArg& b, double beta, void* c,
                                      int64_t ldc) {
  queue([this, dtype, batch, m, n, k, alpha, a, b, beta, c, ldc] {
    inner_->gemm_batched(dtype, batch, m, n, k, alpha, a, b, beta, c, ldc);
  });
}

void EmulatedGpuBackend::conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w,
                                           const void* b, void* y, bool relu) {
  queue([this, dtype, g, x, w, b, y, relu] { inner_->conv2d_forward(dtype, g, x, w, b, y, relu); });
}

void EmulatedGpuBackend::conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy,
                                            const void* w, void* gx, void* gw, void* gb) {
  queue([this, dtype, g, x, gy, w, gx, gw, gb] { inner_->conv2d_backward(dtype, g, x, gy, w, gx, gw, gb); });
}

void EmulatedGpuBackend::max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y,
                                               void* indices) {
  queue([this, dtype, g, x, y, indices] { inner_->max_pool2d_forward(dtype, g, x, y, indices); });
}

void EmulatedGpuBackend::max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy,
                                                const void* indices, void* gx) {
  queue([this, dtype, g, gy, indices, gx] { inner_->max_pool2d_backward(dtype, g, gy, indices, gx); });
}

void EmulatedGpuBackend::avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y) {
  queue([this, dtype, g, x, y] { inner_->avg_pool2d_forward(dtype, g, x, y); });
}

void EmulatedGpuBackend::avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, void* gx) {
  queue([this, dtype, g, gy, gx] { inner_->avg_pool2d_backward(dtype, g, gy, gx); });
}

void EmulatedGpuBackend::random_fill(void* out, DType dtype, int64_t n, const RandomArgs& args) {
  queue([this, out, dtype, n, args] { inner_->random_fill(out, dtype, n, args); });
}

void EmulatedGpuBackend::dropout(const void* x, void* mask, void* y, DType dtype, int64_t n, const RandomArgs& args) {
  queue([this, x, mask, y, dtype, n, args] { inner_->dropout(x, mask, y, dtype, n, args); });
}

void EmulatedGpuBackend::sgd_step(DType dtype, const SgdHyper& hyper, const OptimizerSlot* slots, size_t count) {
  queue([this, dtype, hyper, copied = std::vector<OptimizerSlot>(slots, slots + count)] {
    inner_->sgd_step(dtype, hyper, copied.data(), copied.size());
  });
}

void EmulatedGpuBackend::adam_step(DType dtype, const AdamHyper& hyper, const OptimizerSlot* slots, size_t count) {
  queue([this, dtype, hyper, copied = std::vector<OptimizerSlot>(slots, slots + count)] {
    inner_->adam_step(dtype, hyper, copied.data(), copied.size());
  });
}

void EmulatedGpuBackend::scale_copy(DType dtype, void* dst, const void* src, int64_t n, double scale) {
  queue([this, dtype, dst, src, n, scale] { inner_->scale_copy(dtype, dst, src, n, scale); });
}

void EmulatedGpuBackend::unscale_gradients(DType dtype, void* const* grads, const int64_t* numels, size_t count,
                                           const float* scale, float* found_inf) {
  queue([this, dtype, pointers = std::vector<void*>(grads, grads + count),
         sizes = std::vector<int64_t>(numels, numels + count), scale, found_inf] {
    inner_->unscale_gradients(dtype, pointers.data(), sizes.data(), pointers.size(), scale, found_inf);
  });
}

void EmulatedGpuBackend::update_loss_scale(float* scale, int32_t* growth_tracker, float* found_inf,
                                           const LossScaleUpdate& rule) {
  queue([this, scale, growth_tracker, found_inf, rule] {
    inner_->update_loss_scale(scale, growth_tracker, found_inf, rule);
  });
}

}  // namespace tessera::kernels::test
