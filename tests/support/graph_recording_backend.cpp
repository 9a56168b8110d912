// Invariants (graph_recording_backend.h): one capture at a time (the test device has one stream); the recording
// holds every argument by value (an IndexBounds' names as strings, an optimizer's slots as a vector), so a replay
// needs nothing the captured step's host code held.
#include "tests/support/graph_recording_backend.h"

#include <string>

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

GraphRecordingBackend::GraphRecordingBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
GraphRecordingBackend::~GraphRecordingBackend() = default;

template <typename Work>
void GraphRecordingBackend::queue(Work&& work) {
  if (capture_)
    capture_->work.emplace_back(std::forward<Work>(work));
  else
    work();
}

void GraphRecordingBackend::check_not_capturing(const char* entry) const {
  TESSERA_CHECK(capture_ == nullptr, entry, " on ", name(),
                " while a graph is being captured: a captured step "
                "cannot wait for the device or move data to or from the host (read values after the replay; copy "
                "inputs into the graph's static tensors before it)");
}

GraphRecordingBackend::Graph* GraphRecordingBackend::owner_of(void* ptr) const {
  if (capture_ && capture_->owned.count(ptr)) return capture_.get();
  for (Graph* graph : graphs_)
    if (graph->owned.count(ptr)) return graph;
  return nullptr;
}

void* GraphRecordingBackend::allocate(size_t nbytes) {
  void* ptr = inner_->allocate(nbytes);
  if (capture_) capture_->owned.emplace(ptr, nbytes);
  return ptr;
}

void GraphRecordingBackend::deallocate(void* ptr, size_t nbytes) {
  if (Graph* graph = owner_of(ptr))
    graph->released.insert(ptr);  // the graph's replays still write it
  else if (capture_)
    capture_->deferred.emplace_back(ptr, nbytes);  // captured work may still use it
  else
    inner_->deallocate(ptr, nbytes);
}

void GraphRecordingBackend::copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  check_not_capturing("copy_from_host");
  inner_->copy_from_host(dst, host_src, nbytes);
}

void GraphRecordingBackend::copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  check_not_capturing("copy_to_host");
  inner_->copy_to_host(host_dst, src, nbytes);
}

void GraphRecordingBackend::empty_cache() {
  check_not_capturing("empty_cache");
  inner_->empty_cache();
}

void GraphRecordingBackend::synchronize() { check_not_capturing("synchronize"); }
void GraphRecordingBackend::synchronize_event(EventHandle) { check_not_capturing("synchronize_event"); }

double GraphRecordingBackend::norm_power_sum(DType dtype, const void* data, int64_t n, double p) {
  check_not_capturing("norm_power_sum (clip_grad_norm_ reads the norm on the host)");
  return inner_->norm_power_sum(dtype, data, n, p);
}

void GraphRecordingBackend::begin_capture() {
  TESSERA_CHECK(capture_ == nullptr, "begin_capture on ", name(), ": a graph is already being captured");
  capture_ = std::make_unique<Graph>();
}

GraphHandle GraphRecordingBackend::end_capture() {
  TESSERA_CHECK(capture_ != nullptr, "end_capture on ", name(), ": no graph is being captured");
  Graph* graph = capture_.release();
  graphs_.insert(graph);
  return graph;
}

void GraphRecordingBackend::replay_graph(GraphHandle handle) {
  check_not_capturing("replay_graph");
  auto* graph = static_cast<Graph*>(handle);
  TESSERA_CHECK(graphs_.count(graph), "replay_graph on ", name(), ": not a live graph");
  for (const auto& work : graph->work) work();
}

void GraphRecordingBackend::destroy_graph(GraphHandle handle) {
  auto* graph = static_cast<Graph*>(handle);
  if (graph == nullptr) return;
  TESSERA_CHECK(graphs_.erase(graph), "destroy_graph on ", name(), ": not a live graph");
  std::unique_ptr<Graph> owned(graph);
  // Blocks still held by tensors stay allocated (their tensors free them later); the rest go back now.
  for (const auto& [ptr, nbytes] : graph->owned)
    if (graph->released.count(ptr)) inner_->deallocate(ptr, nbytes);
  for (const auto& [ptr, nbytes] : graph->deferred) inner_->deallocate(ptr, nbytes);
}

void GraphRecordingBackend::copy(void* dst, const void* src, size_t nbytes) {
  queue([this, dst, src, nbytes] { inner_->copy(dst, src, nbytes); });
}

void GraphRecordingBackend::memset_zero(void* dst, size_t nbytes) {
  queue([this, dst, nbytes] { inner_->memset_zero(dst, nbytes); });
}

void GraphRecordingBackend::unary(UnaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& in,
                                  const OpScalars& scalars) {
  queue([this, op, loop, out, in, scalars] { inner_->unary(op, loop, out, in, scalars); });
}

void GraphRecordingBackend::binary(BinaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a,
                                   const StridedArg& b, const OpScalars& scalars) {
  queue([this, op, loop, out, a, b, scalars] { inner_->binary(op, loop, out, a, b, scalars); });
}

void GraphRecordingBackend::ternary(TernaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a,
                                    const StridedArg& b, const StridedArg& c, const OpScalars& scalars) {
  queue([this, op, loop, out, a, b, c, scalars] { inner_->ternary(op, loop, out, a, b, c, scalars); });
}

void GraphRecordingBackend::fill(const LoopShape& loop, const StridedArg& out, double value) {
  queue([this, loop, out, value] { inner_->fill(loop, out, value); });
}

void GraphRecordingBackend::arange(void* out, DType dtype, int64_t n, double start, double step) {
  queue([this, out, dtype, n, start, step] { inner_->arange(out, dtype, n, start, step); });
}

void GraphRecordingBackend::sum(const void* in, void* out, DType dtype, const ReduceShape& shape) {
  queue([this, in, out, dtype, shape] { inner_->sum(in, out, dtype, shape); });
}

void GraphRecordingBackend::variance(const void* in, void* out, DType dtype, const ReduceShape& shape, double divisor) {
  queue([this, in, out, dtype, shape, divisor] { inner_->variance(in, out, dtype, shape, divisor); });
}

void GraphRecordingBackend::extreme(bool is_max, const void* in, void* values, int64_t* indices, DType dtype,
                                    const ReduceShape& shape) {
  queue([this, is_max, in, values, indices, dtype, shape] {
    inner_->extreme(is_max, in, values, indices, dtype, shape);
  });
}

void GraphRecordingBackend::extreme_backward(const void* grad, const int64_t* indices, void* grad_in, DType dtype,
                                             const ReduceShape& shape) {
  queue(
      [this, grad, indices, grad_in, dtype, shape] { inner_->extreme_backward(grad, indices, grad_in, dtype, shape); });
}

void GraphRecordingBackend::softmax(const void* x, void* y, DType dtype, const ReduceShape& layout, bool log) {
  queue([this, x, y, dtype, layout, log] { inner_->softmax(x, y, dtype, layout, log); });
}

void GraphRecordingBackend::softmax_backward(const void* y, const void* g, void* gx, DType dtype,
                                             const ReduceShape& layout, bool log) {
  queue([this, y, g, gx, dtype, layout, log] { inner_->softmax_backward(y, g, gx, dtype, layout, log); });
}

void GraphRecordingBackend::check_class_targets(const int64_t* target, int64_t n, int64_t ignore_index,
                                                const IndexBounds& bounds, int64_t* count) {
  queue([this, target, n, ignore_index, owned = OwnedBounds(bounds), count] {
    inner_->check_class_targets(target, n, ignore_index, owned.get(), count);
  });
}

void GraphRecordingBackend::cross_entropy(const void* logits, const int64_t* target, void* probs, void* losses,
                                          DType dtype, const ReduceShape& layout, int64_t ignore_index,
                                          double label_smoothing) {
  queue([this, logits, target, probs, losses, dtype, layout, ignore_index, label_smoothing] {
    inner_->cross_entropy(logits, target, probs, losses, dtype, layout, ignore_index, label_smoothing);
  });
}

void GraphRecordingBackend::cross_entropy_backward(const void* probs, const int64_t* target, const LossGrad& grad,
                                                   void* gx, DType dtype, const ReduceShape& layout,
                                                   int64_t ignore_index, double label_smoothing) {
  queue([this, probs, target, grad, gx, dtype, layout, ignore_index, label_smoothing] {
    inner_->cross_entropy_backward(probs, target, grad, gx, dtype, layout, ignore_index, label_smoothing);
  });
}

void GraphRecordingBackend::nll_loss(const void* log_probs, const int64_t* target, void* losses, DType dtype,
                                     const ReduceShape& layout, int64_t ignore_index) {
  queue([this, log_probs, target, losses, dtype, layout, ignore_index] {
    inner_->nll_loss(log_probs, target, losses, dtype, layout, ignore_index);
  });
}

void GraphRecordingBackend::nll_loss_backward(const int64_t* target, const LossGrad& grad, void* gx, DType dtype,
                                              const ReduceShape& layout, int64_t ignore_index) {
  queue([this, target, grad, gx, dtype, layout, ignore_index] {
    inner_->nll_loss_backward(target, grad, gx, dtype, layout, ignore_index);
  });
}

void GraphRecordingBackend::sum_losses(const void* losses, void* out, DType dtype, int64_t n, double divisor,
                                       const int64_t* count) {
  queue([this, losses, out, dtype, n, divisor, count] { inner_->sum_losses(losses, out, dtype, n, divisor, count); });
}

void GraphRecordingBackend::mse_loss(const void* a, const void* b, void* diff, void* squares, void* total, DType dtype,
                                     int64_t n, double divisor) {
  queue([this, a, b, diff, squares, total, dtype, n, divisor] {
    inner_->mse_loss(a, b, diff, squares, total, dtype, n, divisor);
  });
}

void GraphRecordingBackend::mse_loss_backward(const void* diff, const LossGrad& grad, void* gx, DType dtype,
                                              int64_t n) {
  queue([this, diff, grad, gx, dtype, n] { inner_->mse_loss_backward(diff, grad, gx, dtype, n); });
}

void GraphRecordingBackend::layer_norm(const void* x, const void* weight, const void* bias, void* y, double* mean,
                                       double* rstd, DType dtype, int64_t rows, int64_t d, double eps) {
  queue([this, x, weight, bias, y, mean, rstd, dtype, rows, d, eps] {
    inner_->layer_norm(x, weight, bias, y, mean, rstd, dtype, rows, d, eps);
  });
}

void GraphRecordingBackend::layer_norm_backward(const void* x, const void* weight, const void* gy, const double* mean,
                                                const double* rstd, void* gx, double* gweight, double* gbias,
                                                DType dtype, int64_t rows, int64_t d) {
  queue([this, x, weight, gy, mean, rstd, gx, gweight, gbias, dtype, rows, d] {
    inner_->layer_norm_backward(x, weight, gy, mean, rstd, gx, gweight, gbias, dtype, rows, d);
  });
}

void GraphRecordingBackend::batch_norm_stats(const void* x, DType dtype, const ReduceShape& layout, double* mean,
                                             double* var, double* unbiased_var) {
  queue([this, x, dtype, layout, mean, var, unbiased_var] {
    inner_->batch_norm_stats(x, dtype, layout, mean, var, unbiased_var);
  });
}

void GraphRecordingBackend::batch_norm(const void* x, void* y, DType dtype, const ReduceShape& layout,
                                       const double* mean, const double* var, const double* weight, const double* bias,
                                       double eps, double* invstd) {
  queue([this, x, y, dtype, layout, mean, var, weight, bias, eps, invstd] {
    inner_->batch_norm(x, y, dtype, layout, mean, var, weight, bias, eps, invstd);
  });
}

void GraphRecordingBackend::batch_norm_backward(const void* x, const void* gy, void* gx, DType dtype,
                                                const ReduceShape& layout, const double* weight, const double* mean,
                                                const double* invstd, bool training, double* sum_gy,
                                                double* sum_gy_xhat) {
  queue([this, x, gy, gx, dtype, layout, weight, mean, invstd, training, sum_gy, sum_gy_xhat] {
    inner_->batch_norm_backward(x, gy, gx, dtype, layout, weight, mean, invstd, training, sum_gy, sum_gy_xhat);
  });
}

void GraphRecordingBackend::index_select(DType dtype, const RowLayout& x_layout, void* out, const void* x,
                                         const void* index, int64_t count, const IndexBounds& bounds) {
  queue([this, dtype, x_layout, out, x, index, count, owned = OwnedBounds(bounds)] {
    inner_->index_select(dtype, x_layout, out, x, index, count, owned.get());
  });
}

void GraphRecordingBackend::index_select_backward(DType dtype, const RowLayout& x_layout, void* grad_x,
                                                  const void* grad_out, const void* index, int64_t count,
                                                  int64_t skip) {
  queue([this, dtype, x_layout, grad_x, grad_out, index, count, skip] {
    inner_->index_select_backward(dtype, x_layout, grad_x, grad_out, index, count, skip);
  });
}

void GraphRecordingBackend::gather(const LoopShape& loop, const StridedArg& out, const StridedArg& src,
                                   const void* index, int64_t dim_stride, const IndexBounds& bounds) {
  queue([this, loop, out, src, index, dim_stride, owned = OwnedBounds(bounds)] {
    inner_->gather(loop, out, src, index, dim_stride, owned.get());
  });
}

void GraphRecordingBackend::scatter_add(const LoopShape& loop, const StridedArg& out, const StridedArg& src,
                                        const void* index, int64_t dim_stride, const IndexBounds& bounds) {
  queue([this, loop, out, src, index, dim_stride, owned = OwnedBounds(bounds)] {
    inner_->scatter_add(loop, out, src, index, dim_stride, owned.get());
  });
}

void GraphRecordingBackend::one_hot(void* out, const void* index, int64_t n, const IndexBounds& bounds) {
  queue([this, out, index, n, owned = OwnedBounds(bounds)] { inner_->one_hot(out, index, n, owned.get()); });
}

void GraphRecordingBackend::gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a,
                                 const MatrixArg& b, double beta, void* c, int64_t ldc,
                                 const GemmEpilogueArgs& epilogue) {
  queue([this, dtype, m, n, k, alpha, a, b, beta, c, ldc, epilogue] {
    inner_->gemm(dtype, m, n, k, alpha, a, b, beta, c, ldc, epilogue);
  });
}

void GraphRecordingBackend::conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w,
                                           const void* b, void* y) {
  queue([this, dtype, g, x, w, b, y] { inner_->conv2d_forward(dtype, g, x, w, b, y); });
}

void GraphRecordingBackend::conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy,
                                            const void* w, void* gx, void* gw, void* gb) {
  queue([this, dtype, g, x, gy, w, gx, gw, gb] { inner_->conv2d_backward(dtype, g, x, gy, w, gx, gw, gb); });
}

void GraphRecordingBackend::max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y,
                                               void* indices) {
  queue([this, dtype, g, x, y, indices] { inner_->max_pool2d_forward(dtype, g, x, y, indices); });
}

void GraphRecordingBackend::max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy,
                                                const void* indices, void* gx) {
  queue([this, dtype, g, gy, indices, gx] { inner_->max_pool2d_backward(dtype, g, gy, indices, gx); });
}

void GraphRecordingBackend::avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y) {
  queue([this, dtype, g, x, y] { inner_->avg_pool2d_forward(dtype, g, x, y); });
}

void GraphRecordingBackend::avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, void* gx) {
  queue([this, dtype, g, gy, gx] { inner_->avg_pool2d_backward(dtype, g, gy, gx); });
}

void GraphRecordingBackend::random_fill(void* out, DType dtype, int64_t n, const RandomArgs& args) {
  queue([this, out, dtype, n, args] { inner_->random_fill(out, dtype, n, args); });
}

void GraphRecordingBackend::sgd_step(DType dtype, const SgdHyper& hyper, const OptimizerSlot* slots, size_t count) {
  queue([this, dtype, hyper, copied = std::vector<OptimizerSlot>(slots, slots + count)] {
    inner_->sgd_step(dtype, hyper, copied.data(), copied.size());
  });
}

void GraphRecordingBackend::adam_step(DType dtype, const AdamHyper& hyper, const OptimizerSlot* slots, size_t count) {
  queue([this, dtype, hyper, copied = std::vector<OptimizerSlot>(slots, slots + count)] {
    inner_->adam_step(dtype, hyper, copied.data(), copied.size());
  });
}

void GraphRecordingBackend::scale_copy(DType dtype, void* dst, const void* src, int64_t n, double scale) {
  queue([this, dtype, dst, src, n, scale] { inner_->scale_copy(dtype, dst, src, n, scale); });
}

}  // namespace tessera::kernels::test
