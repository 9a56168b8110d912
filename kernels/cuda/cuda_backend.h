#pragma once
// The CUDA Backend of one GPU. Every entry queues its work on the calling thread's current stream
// (kernels/cuda/stream.h) and returns; only copy_to_host, synchronize, synchronize_event and elapsed_ms wait.
// Memory comes from the device's caching allocator. The entries are defined by family, one file each, as the
// CPU's: cuda_backend.cpp (memory, streams, events, the registry), host_upload.cu (copy_from_host),
// elementwise_{unary,copy,binary,compare,backward}.cu, reduce.cu, softmax.cu, loss.cu, layer_norm.cu,
// batch_norm.cu, index.cu, gemm_entry.cu (+ gemm.cu), conv_2d.cu (+ conv_2d_bias.cu), pool_2d.cu, random.cu,
// optimizer.cu.
//
// Index checks happen on the device (kernels/index_args.h): an entry that reads indices takes a slot from
// begin_index_check, its kernel records the first bad position there, and the next host synchronisation
// (copy_to_host, synchronize) raises the CPU's error for it. The slots are shared by all streams: a read on one stream
// first waits for every other stream that queued a pending check, so a check queued on the compute stream is never
// read (and rearmed) before its kernel ran because a side stream synchronised first. A graph (cuda_graph.cpp) has
// slots of its own, read at the first host synchronisation after each replay.
#include <cuda_runtime.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/caching_allocator.h"
#include "kernels/cuda/pinned_host_cache.h"

namespace tessera::kernels::cuda {

// Where a device kernel reports the first out-of-range index it met: position starts at kNoBadIndex; kernels
// atomicMin their bad positions into it, then a one-thread kernel copies the index found there into value.
struct IndexErrorSlot {
  unsigned long long position;
  long long value;
};
constexpr unsigned long long kNoBadIndex = ~0ull;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  const char* name() const override { return name_.c_str(); }
  int device() const { return device_; }
  // The calling thread's current stream on this GPU (and this GPU made the thread's current device).
  cudaStream_t stream() const;

  // Index checks (here; used by index.cu and loss.cu): a device slot for one entry's check, and the host side.
  IndexErrorSlot* begin_index_check(const IndexBounds& bounds);
  // Launches the one-thread kernel that copies index[slot->position] into slot->value (index.cu).
  static void report_bad_index(IndexErrorSlot* slot, const int64_t* index, cudaStream_t stream);

  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t nbytes) override;
  void copy(void* dst, const void* src, size_t nbytes) override;
  void memset_zero(void* dst, size_t nbytes) override;
  void* allocate_pinned_host(size_t nbytes) override;
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
  EventHandle create_timing_event() override;
  double elapsed_ms(EventHandle start, EventHandle end) override;
  StreamHandle create_stream() override;
  void destroy_stream(StreamHandle stream) override;
  StreamHandle current_stream() override;
  void set_current_stream(StreamHandle stream) override;
  void copy_from_host_async(void* dst, const void* pinned_src, size_t nbytes) override;
  void copy_to_host_async(void* pinned_dst, const void* src, size_t nbytes) override;

  // graphs (cuda_graph.cpp)
  void begin_capture() override;
  GraphHandle end_capture() override;
  void replay_graph(GraphHandle graph) override;
  void destroy_graph(GraphHandle graph) override;

  // elementwise (elementwise_*.cu over elementwise_loops.cuh)
  void unary(UnaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& in,
             const OpScalars& scalars) override;
  void binary(BinaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a, const StridedArg& b,
              const OpScalars& scalars) override;
  void ternary(TernaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a, const StridedArg& b,
               const StridedArg& c, const OpScalars& scalars) override;
  void fill(const LoopShape& loop, const StridedArg& out, double value) override;
  void arange(void* out, DType dtype, int64_t n, double start, double step) override;

  // reductions (reduce.cu)
  void sum(const void* in, void* out, DType dtype, const ReduceShape& shape) override;
  void variance(const void* in, void* out, DType dtype, const ReduceShape& shape, double divisor) override;
  void extreme(bool is_max, const void* in, void* values, int64_t* indices, DType dtype,
               const ReduceShape& shape) override;
  void extreme_backward(const void* grad, const int64_t* indices, void* grad_in, DType dtype,
                        const ReduceShape& shape) override;

  // softmax, log-softmax and losses (softmax.cu, loss.cu)
  void softmax(const void* x, void* y, DType dtype, const ReduceShape& layout, bool log) override;
  void softmax_backward(const void* y, const void* g, void* gx, DType dtype, const ReduceShape& layout,
                        bool log) override;
  void check_class_targets(const int64_t* target, int64_t n, int64_t ignore_index, const IndexBounds& bounds,
                           int64_t* count) override;
  void cross_entropy(const void* logits, const int64_t* target, void* probs, void* losses, DType dtype,
                     DType io_dtype, const ReduceShape& layout, int64_t ignore_index,
                     double label_smoothing) override;
  void cross_entropy_backward(const void* probs, const int64_t* target, const LossGrad& grad, void* gx,
                              DType dtype, DType io_dtype, const ReduceShape& layout, int64_t ignore_index,
                              double label_smoothing) override;
  void nll_loss(const void* log_probs, const int64_t* target, void* losses, DType dtype, const ReduceShape& layout,
                int64_t ignore_index) override;
  void nll_loss_backward(const int64_t* target, const LossGrad& grad, void* gx, DType dtype,
                         const ReduceShape& layout, int64_t ignore_index) override;
  void sum_losses(const void* losses, void* out, DType dtype, int64_t n, double divisor,
                  const int64_t* count) override;
  void mse_loss(const void* a, const void* b, void* diff, void* squares, void* total, DType dtype, int64_t n,
                double divisor) override;
  void mse_loss_backward(const void* diff, const LossGrad& grad, void* gx, DType dtype, int64_t n) override;

  // layer and batch norm (layer_norm.cu, batch_norm.cu)
  void layer_norm(const void* x, const void* weight, const void* bias, void* y, double* mean, double* rstd,
                  DType dtype, int64_t rows, int64_t d, double eps) override;
  void layer_norm_backward(const void* x, const void* weight, const void* gy, const double* mean,
                           const double* rstd, void* gx, double* gweight, double* gbias, DType dtype, int64_t rows,
                           int64_t d) override;
  void batch_norm_stats(const void* x, DType dtype, const ReduceShape& layout, double* mean, double* var,
                        double* unbiased_var) override;
  void batch_norm(const void* x, void* y, DType dtype, const ReduceShape& layout, const double* mean,
                  const double* var, const double* weight, const double* bias, double eps, double* invstd) override;
  void batch_norm_backward(const void* x, const void* gy, void* gx, DType dtype, const ReduceShape& layout,
                           const double* weight, const double* mean, const double* invstd, bool training,
                           double* sum_gy, double* sum_gy_xhat) override;

  // indexing, embedding and concatenation (index.cu)
  void index_select(DType dtype, const RowLayout& x_layout, void* out, const void* x, const void* index,
                    int64_t count, const IndexBounds& bounds) override;
  void index_select_backward(DType dtype, const RowLayout& x_layout, void* grad_x, const void* grad_out,
                             const void* index, int64_t count, int64_t skip) override;
  void gather(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
              int64_t dim_stride, const IndexBounds& bounds) override;
  void scatter_add(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
                   int64_t dim_stride, const IndexBounds& bounds) override;
  void one_hot(void* out, const void* index, int64_t n, const IndexBounds& bounds) override;

  // GEMM (gemm_entry.cu; cuBLASLt in gemm.cu)
  void gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a, const MatrixArg& b,
            double beta, void* c, int64_t ldc, const GemmEpilogueArgs& epilogue) override;
  void gemm_batched(DType dtype, const GemmBatch& batch, int64_t m, int64_t n, int64_t k, double alpha,
                    const MatrixArg& a, const MatrixArg& b, double beta, void* c, int64_t ldc) override;

  // convolution and pooling (conv_2d.cu: cuDNN, with conv_2d_bias.cu; pool_2d.cu)
  bool conv_pool_takes(DType dtype) const override {  // conv_2d.cu, pool_2d.cu
    return dtype == DType::f32 || dtype == DType::f64 || dtype == DType::bf16 || dtype == DType::f16;
  }
  void conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* b,
                      void* y, bool relu) override;
  void conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy, const void* w, void* gx,
                       void* gw, void* gb) override;
  void max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, void* indices) override;
  void max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, const void* indices,
                           void* gx) override;
  void avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y) override;
  void avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, void* gx) override;

  // random numbers (random.cu)
  void random_fill(void* out, DType dtype, int64_t n, const RandomArgs& args) override;
  void dropout(const void* x, void* mask, void* y, DType dtype, int64_t n, const RandomArgs& args) override;

  // optimizer updates and the DDP scale-copy (optimizer.cu, reduce.cu for norm_power_sum)
  void sgd_step(DType dtype, const SgdHyper& hyper, const OptimizerSlot* slots, size_t count) override;
  void adam_step(DType dtype, const AdamHyper& hyper, const OptimizerSlot* slots, size_t count) override;
  void norm_power_sum(DType dtype, const void* data, int64_t n, double p, double* out) override;
  void scale_copy(DType dtype, void* dst, const void* src, int64_t n, double scale) override;
  // dynamic loss scaling (loss_scale.cu)
  void unscale_gradients(DType dtype, void* const* grads, const int64_t* numels, size_t count, const float* scale,
                         float* found_inf) override;
  void update_loss_scale(float* scale, int32_t* growth_tracker, float* found_inf,
                         const LossScaleUpdate& rule) override;

 private:
  struct PendingIndexCheck {
    std::string op, what, context;
    cudaStream_t stream;  // where its kernel was queued; null once that stream was destroyed (its work done)
  };
  struct Graph;
  // After the host synchronised with the stream: throws the first failed index check (of the backend's slots and
  // of the graphs replayed since), and rearms the slots.
  void raise_index_errors();
  // Copies `checks.size()` slots back (the stream synchronised), rearms them, returns the first failure's message
  // (empty when none).
  std::string read_index_slots(IndexErrorSlot* slots, const std::vector<PendingIndexCheck>& checks);
  // A graph's own slot for an index check met while capturing it (cuda_graph.cpp), and their reading.
  IndexErrorSlot* graph_index_slot(const IndexBounds& bounds);
  std::string read_graph_index_slots(Graph* graph);
  // Host waits and reads cannot be captured: an error naming the entry, before CUDA invalidates the capture.
  void check_not_capturing(const char* entry) const;
  // Entries that synchronise or free device-wide: an error while any thread captures on this device.
  void check_device_not_capturing(const char* entry) const;
  bool page_locked(const void* host);  // copy_from_host must wait for the DMA to read it
  void note_pinned_use(const void* pinned, cudaStream_t s);  // an async copy's pinned block, kept until it passed
  bool capturing_here() const { return capture_ != nullptr && std::this_thread::get_id() == capture_thread_; }
  void note_captured_event(cudaEvent_t event);             // cuda_graph.cpp
  void forget_graph_stream(cudaStream_t side);             // cuda_graph.cpp; under index_mutex_
  void check_wait_in_capture(cudaEvent_t event) const;     // cuda_graph.cpp

  int device_;
  std::string name_;
  CachingAllocator allocator_;
  PinnedHostCache pinned_;

  std::mutex index_mutex_;
  IndexErrorSlot* index_slots_ = nullptr;  // device array of kIndexSlots
  std::vector<PendingIndexCheck> pending_index_checks_;
  // The slots' last rearming and its stream (null: none since the slots were last known idle). An index check on
  // another stream waits for it on the device, else its kernel could write before the rearming wipes the slot.
  cudaEvent_t rearmed_ = nullptr;
  cudaStream_t rearmed_on_ = nullptr;
  // The graph being captured (one at a time per device) and the thread capturing it; read by other threads.
  std::atomic<Graph*> capture_{nullptr};
  std::atomic<std::thread::id> capture_thread_;
  std::vector<Graph*> replayed_;  // replayed since the last host synchronisation (under index_mutex_)
};

}  // namespace tessera::kernels::cuda
