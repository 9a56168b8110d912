#pragma once
// The test device's GPU rules: a Backend that forwards to the test device's CpuBackend but keeps the two rules of
// a GPU that a CPU cannot break, so CI catches code that breaks them:
// - Graphs: what is queued between begin_capture and end_capture is recorded, not run; replay_graph runs the
//   recording again. Nothing in a captured step may wait for or read the device from the host (those entries throw
//   while capturing, as CudaBackend's do), per-step values must come from device memory (StepScalars,
//   RandomArgs::offset_base: a value passed by the host is frozen into the recording), and memory follows the CUDA
//   allocator's graph-pool rules (kernels/cuda/caching_allocator.h): blocks allocated while capturing are never
//   handed to anyone else while the graph lives, and blocks from before the capture freed while capturing wait for
//   the graph's end. A replay then computes exactly what the eager steps compute, or a test comparing them fails.
//   Replays must be queued on the stream the graph was captured on, as CudaBackend requires.
// - Streams: each stream queues its work, and the schedule (Late, chosen by TESSERA_TEST_DEVICE_LATE) decides who
//   runs late. A GPU may run a stream's work at any time between its queueing and the moment something needs it, so
//   each schedule is one a GPU may follow, and between them they expose both kinds of missing wait:
//   - Late::side_streams (the default): compute runs at once; a side stream's work (a loader's copies, a staging
//     copy) waits until something forces it: an event recorded after it that another stream's work waits for, the
//     host waiting for such an event, synchronising that stream, or destroying it. A reader on compute that forgets
//     to wait for a side stream's event reads stale bytes, and a host that refills a pinned buffer before the copy
//     from it has passed overwrites what the copy will read.
//   - Late::compute: side streams run at once (a wait for compute first runs compute up to the event); compute
//     waits until forced, as above, or until the host reads device memory. A side stream that writes what queued
//     compute work still reads (it did not wait for compute's event) overwrites it first, and a host that reads a
//     pinned buffer before the compute-stream copy into it has passed reads stale bytes.
//   A stream holding too much queued work runs its oldest half (a GPU may always run queued work early; the bound
//   keeps a loop that never reads a value from holding every step's memory). Memory goes back to the pool in the
//   order of the stream that allocated it, once the work queued before its free has run (the CUDA caching
//   allocator's per-stream pools make same-stream reuse safe at once; reuse from another stream needs that
//   order; after that, unlike CUDA's pools, any stream may reuse it; a block that other streams use, by
//   record_stream, also waits for their work queued before the free), and pinned memory an async copy uses goes
//   back after that copy. A destroyed side stream's blocks join compute's order, as CudaBackend retires them.
#include <chrono>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "kernels/backend.h"

namespace tessera::kernels::test {

class EmulatedGpuBackend final : public Backend {
 public:
  enum class Late { side_streams, compute };  // which streams run as late as they may (see above)
  EmulatedGpuBackend(std::unique_ptr<Backend> inner, Late late);
  ~EmulatedGpuBackend() override;
  const char* name() const override { return inner_->name(); }

  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t nbytes) override;
  void* allocate_pinned_host(size_t nbytes) override { return inner_->allocate_pinned_host(nbytes); }
  void free_pinned_host(void* ptr, size_t nbytes) override;
  MemoryStats memory_stats() const override;
  void reset_peak_memory_stats() override;
  void empty_cache() override;
  void record_stream(void* ptr, StreamHandle stream) override;

  void synchronize() override;
  EventHandle create_event() override;
  void destroy_event(EventHandle event) override;
  void record_event(EventHandle event) override;
  void wait_event(EventHandle event) override;
  void synchronize_event(EventHandle event) override;
  bool query_event(EventHandle event) override;
  EventHandle create_timing_event() override { return create_event(); }
  double elapsed_ms(EventHandle start, EventHandle end) override;
  StreamHandle create_stream() override;
  void destroy_stream(StreamHandle stream) override;
  StreamHandle current_stream() override;
  void set_current_stream(StreamHandle stream) override;
  void copy_from_host_async(void* dst, const void* pinned_src, size_t nbytes) override;
  void copy_to_host_async(void* pinned_dst, const void* src, size_t nbytes) override;

  void begin_capture() override;
  GraphHandle end_capture() override;
  void replay_graph(GraphHandle graph) override;
  void destroy_graph(GraphHandle graph) override;

  void norm_power_sum(DType dtype, const void* data, int64_t n, double p, double* out) override;

  // The entries that queue device work: run at once, or recorded while capturing.
  void copy(void* dst, const void* src, size_t nbytes) override;
  void memset_zero(void* dst, size_t nbytes) override;
  void unary(UnaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& in,
             const OpScalars& scalars) override;
  void binary(BinaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a, const StridedArg& b,
              const OpScalars& scalars) override;
  void ternary(TernaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a, const StridedArg& b,
               const StridedArg& c, const OpScalars& scalars) override;
  void fill(const LoopShape& loop, const StridedArg& out, double value) override;
  void arange(void* out, DType dtype, int64_t n, double start, double step) override;
  void sum(const void* in, void* out, DType dtype, const ReduceShape& shape) override;
  void variance(const void* in, void* out, DType dtype, const ReduceShape& shape, double divisor) override;
  void extreme(bool is_max, const void* in, void* values, int64_t* indices, DType dtype,
               const ReduceShape& shape) override;
  void extreme_backward(const void* grad, const int64_t* indices, void* grad_in, DType dtype,
                        const ReduceShape& shape) override;
  void softmax(const void* x, void* y, DType dtype, const ReduceShape& layout, bool log) override;
  void softmax_backward(const void* y, const void* g, void* gx, DType dtype, const ReduceShape& layout,
                        bool log) override;
  void check_class_targets(const int64_t* target, int64_t n, int64_t ignore_index, const IndexBounds& bounds,
                           int64_t* count) override;
  void cross_entropy(const void* logits, const int64_t* target, void* probs, void* losses, DType dtype,
                     DType io_dtype, const ReduceShape& layout, int64_t ignore_index,
                     double label_smoothing) override;
  void cross_entropy_backward(const void* probs, const int64_t* target, const LossGrad& grad, void* gx, DType dtype,
                              DType io_dtype, const ReduceShape& layout, int64_t ignore_index,
                              double label_smoothing) override;
  void nll_loss(const void* log_probs, const int64_t* target, void* losses, DType dtype, const ReduceShape& layout,
                int64_t ignore_index) override;
  void nll_loss_backward(const int64_t* target, const LossGrad& grad, void* gx, DType dtype, const ReduceShape& layout,
                         int64_t ignore_index) override;
  void sum_losses(const void* losses, void* out, DType dtype, int64_t n, double divisor, const int64_t* count) override;
  void mse_loss(const void* a, const void* b, void* diff, void* squares, void* total, DType dtype, int64_t n,
                double divisor) override;
  void mse_loss_backward(const void* diff, const LossGrad& grad, void* gx, DType dtype, int64_t n) override;
  void layer_norm(const void* x, const void* weight, const void* bias, void* y, double* mean, double* rstd, DType dtype,
                  int64_t rows, int64_t d, double eps) override;
  void layer_norm_backward(const void* x, const void* weight, const void* gy, const double* mean, const double* rstd,
                           void* gx, double* gweight, double* gbias, DType dtype, int64_t rows, int64_t d) override;
  void batch_norm_stats(const void* x, DType dtype, const ReduceShape& layout, double* mean, double* var,
                        double* unbiased_var) override;
  void batch_norm(const void* x, void* y, DType dtype, const ReduceShape& layout, const double* mean, const double* var,
                  const double* weight, const double* bias, double eps, double* invstd) override;
  void batch_norm_backward(const void* x, const void* gy, void* gx, DType dtype, const ReduceShape& layout,
                           const double* weight, const double* mean, const double* invstd, bool training,
                           double* sum_gy, double* sum_gy_xhat) override;
  void index_select(DType dtype, const RowLayout& x_layout, void* out, const void* x, const void* index, int64_t count,
                    const IndexBounds& bounds) override;
  void index_select_backward(DType dtype, const RowLayout& x_layout, void* grad_x, const void* grad_out,
                             const void* index, int64_t count, int64_t skip) override;
  void gather(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
              int64_t dim_stride, const IndexBounds& bounds) override;
  void scatter_add(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
                   int64_t dim_stride, const IndexBounds& bounds) override;
  void one_hot(void* out, const void* index, int64_t n, const IndexBounds& bounds) override;
  void gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a, const MatrixArg& b,
            double beta, void* c, int64_t ldc, const GemmEpilogueArgs& epilogue) override;
  void gemm_batched(DType dtype, const GemmBatch& batch, int64_t m, int64_t n, int64_t k, double alpha,
                    const MatrixArg& a, const MatrixArg& b, double beta, void* c, int64_t ldc) override;
  bool conv_pool_takes(DType dtype) const override { return inner_->conv_pool_takes(dtype); }
  void conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* b,
                      void* y, bool relu) override;
  void conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy, const void* w, void* gx,
                       void* gw, void* gb) override;
  void max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, void* indices) override;
  void max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, const void* indices,
                           void* gx) override;
  void avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y) override;
  void avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, void* gx) override;
  void random_fill(void* out, DType dtype, int64_t n, const RandomArgs& args) override;
  void dropout(const void* x, void* mask, void* y, DType dtype, int64_t n, const RandomArgs& args) override;
  void sgd_step(DType dtype, const SgdHyper& hyper, const OptimizerSlot* slots, size_t count) override;
  void adam_step(DType dtype, const AdamHyper& hyper, const OptimizerSlot* slots, size_t count) override;
  void scale_copy(DType dtype, void* dst, const void* src, int64_t n, double scale) override;
  void unscale_gradients(DType dtype, void* const* grads, const int64_t* numels, size_t count, const float* scale,
                         float* found_inf) override;
  void update_loss_scale(float* scale, int32_t* growth_tracker, float* found_inf,
                         const LossScaleUpdate& rule) override;

 private:
  struct StreamQueue;
  struct Graph {
    StreamQueue* stream = nullptr;  // captured on
    std::vector<std::function<void()>> work;
    std::map<void*, size_t> owned;                   // allocated while capturing: block -> bytes
    std::set<void*> released;                        // owned blocks freed by their tensors
    std::vector<std::pair<void*, size_t>> deferred;  // blocks from before the capture, freed while capturing
  };
  // A stream's queue: work run in order when something forces it. Bookkeeping (waits, frees) runs even after a
  // kernel failed; kernels queued after a failure are skipped until the host is told (kernel_error_).
  struct StreamQueue {
    struct Work {
      std::function<void()> run;
      bool bookkeeping = false;
    };
    std::deque<Work> pending;
    uint64_t queued = 0, ran = 0;  // how much work was ever queued / has run
    void push(std::function<void()> work, bool bookkeeping = false) {  // under streams_mutex_
      pending.push_back({std::move(work), bookkeeping});
      ++queued;
    }
  };
  // The point of a stream an event marks: its work up to `position` (no stream: never recorded, nothing to wait for).
  struct Event {
    StreamQueue* stream = nullptr;
    uint64_t position = 0;
    std::chrono::steady_clock::time_point at{};  // when recorded (host time: timing events)
    uint64_t capture = 0;                         // the capture it was recorded into (capture_id_), else 0
  };
  template <typename Work>
  void queue(Work&& work, bool bookkeeping = false);  // on the current stream, or into the graph being captured
  StreamQueue* current_queue();                              // the calling thread's current stream
  void run_until(StreamQueue* stream, uint64_t position);  // runs its queued work up to `position`
  void run_all();                                          // every stream's queued work
  // Adds work to `stream`'s queue and runs it now unless the schedule holds it (under streams_mutex_).
  void enqueue(StreamQueue* stream, std::function<void()> work, bool bookkeeping);
  Event recorded(EventHandle handle);  // what an event marks now
  void report_kernel_error();  // rethrows a queued kernel's failure once the host waits for the device
  void note_pinned_use(const void* pinned);  // an async copy on the current stream uses pinned memory there
  void check_not_capturing(const char* entry) const;
  Graph* owner_of(void* ptr) const;

  std::unique_ptr<Backend> inner_;
  const Late late_;
  std::unique_ptr<Graph> capture_;
  uint64_t capture_id_ = 0;  // of the latest capture (1, 2, ...)
  std::set<Graph*> graphs_;  // captured, not yet destroyed
  // Streams and their queues; recursive: running a queue may run a wait that runs another queue.
  mutable std::recursive_mutex streams_mutex_;
  // The first failure of a queued kernel (a bad index, found as the work runs): as on a GPU, later kernels are
  // skipped (they would read through the bad index) and the host hears of it at its next wait for the device.
  std::exception_ptr kernel_error_;
  StreamQueue compute_;
  std::set<StreamQueue*> streams_;  // compute_ and the live side streams
  // Destroyed side streams, kept (all their work ran): an event or a queued wait may still name one, as CUDA allows.
  std::set<StreamQueue*> retired_;  // owned: deleted with the backend
  // Blocks and the stream that allocated them: freed, they return to the pool in that stream's order (as the
  // caching allocator's per-stream reuse makes safe on a GPU), not while its queued work may still use them.
  std::map<void*, StreamQueue*> block_streams_;
  // Other streams that use a block (record_stream): freed, it returns once their work queued by then has run too.
  std::map<void*, std::set<StreamQueue*>> block_uses_;
  // Pinned host memory an async copy on a side stream reads or writes: address -> that stream and the copy's
  // position. Freed, such memory goes back to the pool only after the copy, as CUDA's pinned cache makes sure
  // (kernels/cuda/pinned_host_cache.h); reused before, the copy would read the next user's bytes.
  std::map<const char*, Event> pinned_uses_;
};

}  // namespace tessera::kernels::test
