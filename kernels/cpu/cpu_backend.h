#pragma once
// The CPU's Backend: OpenBLAS/oneDNN and vectorised OpenMP loops over host memory. One class serves two devices:
// the CPU itself (over the caching host allocator) and the test device (over guarded memory; tests make it).
// Every entry reaches bytes only through host(), which adds the memory's host offset: 0 on the CPU, the distance
// from the guarded window to its backing on the test device. A pointer that skipped host() faults there.
// The entries are defined by family, one file each (cpu_backend.cpp: memory and streams; elementwise_*.cpp).
#include <string>

#include "kernels/backend.h"
#include "kernels/cpu/host_memory.h"

namespace tessera::kernels::cpu {

class CpuBackend final : public Backend {
 public:
  CpuBackend(HostMemory& memory, std::string name);
  const char* name() const override { return name_.c_str(); }

  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t nbytes) override;
  void copy(void* dst, const void* src, size_t nbytes) override;
  void memset_zero(void* dst, size_t nbytes) override;
  void* allocate_pinned_host(size_t nbytes) override;
  void free_pinned_host(void* ptr, size_t nbytes) override;
  MemoryStats memory_stats() const override;
  void reset_peak_memory_stats() override { memory_.reset_peak(); }
  void empty_cache() override;
  void record_stream(void*, StreamHandle) override {}  // streams are names only: nothing runs late

  void synchronize() override {}
  EventHandle create_event() override;
  void destroy_event(EventHandle event) override;
  void record_event(EventHandle event) override;
  void wait_event(EventHandle) override {}
  void synchronize_event(EventHandle) override {}
  bool query_event(EventHandle) override { return true; }
  EventHandle create_timing_event() override;
  double elapsed_ms(EventHandle start, EventHandle end) override;
  StreamHandle create_stream() override { return &name_; }  // a name only: any non-null handle
  void destroy_stream(StreamHandle) override {}
  StreamHandle current_stream() override { return nullptr; }
  void set_current_stream(StreamHandle) override {}
  void copy_from_host_async(void* dst, const void* pinned_src, size_t nbytes) override {
    copy_from_host(dst, pinned_src, nbytes);
  }
  void copy_to_host_async(void* pinned_dst, const void* src, size_t nbytes) override {
    copy_to_host(pinned_dst, src, nbytes);
  }

  // The CPU runs every entry at once: nothing to capture (the test device records graphs in a wrapper instead).
  void begin_capture() override;
  GraphHandle end_capture() override;
  void replay_graph(GraphHandle graph) override;
  void destroy_graph(GraphHandle graph) override;

  void unary(UnaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& in,
             const OpScalars& scalars) override;
  void binary(BinaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a, const StridedArg& b,
              const OpScalars& scalars) override;
  void ternary(TernaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a, const StridedArg& b,
               const StridedArg& c, const OpScalars& scalars) override;
  void fill(const LoopShape& loop, const StridedArg& out, double value) override;
  void arange(void* out, DType dtype, int64_t n, double start, double step) override;

  // reductions (reduce.cpp)
  void sum(const void* in, void* out, DType dtype, const ReduceShape& shape) override;
  void variance(const void* in, void* out, DType dtype, const ReduceShape& shape, double divisor) override;
  void extreme(bool is_max, const void* in, void* values, int64_t* indices, DType dtype,
               const ReduceShape& shape) override;
  void extreme_backward(const void* grad, const int64_t* indices, void* grad_in, DType dtype,
                        const ReduceShape& shape) override;

  // softmax, log-softmax and losses (softmax.cpp, loss.cpp)
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

  // layer and batch norm (norm.cpp)
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

  // indexing, embedding and concatenation (index.cpp)
  void index_select(DType dtype, const RowLayout& x_layout, void* out, const void* x, const void* index,
                    int64_t count, const IndexBounds& bounds) override;
  void index_select_backward(DType dtype, const RowLayout& x_layout, void* grad_x, const void* grad_out,
                             const void* index, int64_t count, int64_t skip) override;
  void gather(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
              int64_t dim_stride, const IndexBounds& bounds) override;
  void scatter_add(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
                   int64_t dim_stride, const IndexBounds& bounds) override;
  void one_hot(void* out, const void* index, int64_t n, const IndexBounds& bounds) override;

  // GEMM (gemm.cpp)
  void gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a, const MatrixArg& b,
            double beta, void* c, int64_t ldc, const GemmEpilogueArgs& epilogue) override;
  void gemm_batched(DType dtype, const GemmBatch& batch, int64_t m, int64_t n, int64_t k, double alpha,
                    const MatrixArg& a, const MatrixArg& b, double beta, void* c, int64_t ldc) override;

  // convolution and pooling (conv_2d.cpp, pool_2d.cpp)
  bool conv_pool_takes(DType dtype) const override;  // f32, f64; bf16 on CPUs with bf16 units (conv_2d.cpp)
  void conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* b,
                      void* y, bool relu) override;
  void conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy, const void* w, void* gx,
                       void* gw, void* gb) override;
  void max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, void* indices) override;
  void max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, const void* indices,
                           void* gx) override;
  void avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y) override;
  void avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, void* gx) override;

  // random numbers (random.cpp)
  void random_fill(void* out, DType dtype, int64_t n, const RandomArgs& args) override;
  void dropout(const void* x, void* mask, void* y, DType dtype, int64_t n, const RandomArgs& args) override;

  // optimizer updates and the DDP scale-copy (optimizer.cpp)
  void sgd_step(DType dtype, const SgdHyper& hyper, const OptimizerSlot* slots, size_t count) override;
  void adam_step(DType dtype, const AdamHyper& hyper, const OptimizerSlot* slots, size_t count) override;
  void norm_power_sum(DType dtype, const void* data, int64_t n, double p, double* out) override;
  void scale_copy(DType dtype, void* dst, const void* src, int64_t n, double scale) override;

  // dynamic loss scaling (loss_scale.cpp)
  void unscale_gradients(DType dtype, void* const* grads, const int64_t* numels, size_t count, const float* scale,
                         float* found_inf) override;
  void update_loss_scale(float* scale, int32_t* growth_tracker, float* found_inf,
                         const LossScaleUpdate& rule) override;

 private:
  // A loss gradient with host addresses (loss.cpp).
  LossGrad host_view(const LossGrad& grad) const;
  // Whether a step's found_inf flag asks it to change nothing (optimizer.cpp).
  bool skipped(const StepScalars& scalars) const;
  void count_steps(const OptimizerSlot* slots, size_t count);

  template <typename T>
  T* host(T* ptr) const {
    using Byte = std::conditional_t<std::is_const_v<T>, const char, char>;
    return reinterpret_cast<T*>(reinterpret_cast<Byte*>(ptr) + host_offset_);
  }

  HostMemory& memory_;
  std::ptrdiff_t host_offset_;
  std::string name_;
};

}  // namespace tessera::kernels::cpu
