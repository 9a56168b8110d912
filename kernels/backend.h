#pragma once
// Backend: the one interface between core (tensors, autograd, ops) and the code that touches device memory.
// Every device has exactly one implementation, chosen by file: kernels/cpu (always built), kernels/cuda (CUDA
// builds), and the test device (a CpuBackend over guarded memory, created by tests). core calls nothing else that
// reads or writes tensor memory.
//
// Invariants:
//  - Entries work on buffers, never on Tensor: a pointer in the backend's own memory (a device address on a GPU),
//    a dtype, and element strides. Shape rules, dtype promotion and autograd stay in core/ops.
//  - The host never dereferences a backend pointer. Host data enters and leaves only through copy_from_host and
//    copy_to_host. The test device enforces this: its pointers lie in an address window the host cannot read.
//  - Work is ordered on the calling thread's current stream; an entry may return before the work finishes
//    (CUDA), but copy_to_host returns with the bytes in place. The CPU runs everything at once.
//  - Every entry is pure virtual: a backend that misses one does not compile.
//  - C++17, so CUDA translation units include this header.
#include <cstddef>
#include <cstdint>

#include "kernels/common/device_type.h"
#include "kernels/common/dtype.h"
#include "kernels/conv_pool_args.h"
#include "kernels/elementwise_args.h"
#include "kernels/index_args.h"
#include "kernels/philox.h"

namespace tessera::kernels {

struct MemoryStats {
  size_t allocated_bytes = 0;  // in tensors now
  size_t cached_bytes = 0;     // freed, kept for reuse
  size_t peak_allocated_bytes = 0;
  size_t allocation_count = 0;  // allocate() calls served so far
};

using EventHandle = void*;
using GraphHandle = void*;
using StreamHandle = void*;  // nullptr: the device's compute stream

// One parameter of a fused optimizer step.
struct OptimizerSlot {
  void* param = nullptr;
  const void* grad = nullptr;
  void* state[3] = {};  // SGD: momentum buffer (or null); Adam: exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)
  int64_t numel = 0;
  bool first_step = false;             // SGD: the momentum buffer is uninitialised (it takes the gradient)
  double step_size = 0.0;              // Adam: lr / (1 - beta1^t)
  double bias_correction2_sqrt = 1.0;  // Adam: sqrt(1 - beta2^t)
  // f32 parameters only: a bf16 or f16 copy (numel elements, of low_precision_dtype) that the step rewrites with
  // the updated parameter, rounded as a dtype conversion rounds it: autocast's cached cast (core/amp/cast_cache.h),
  // kept in step without a conversion kernel per parameter. Null: none.
  void* low_precision = nullptr;
  DType low_precision_dtype = DType::bf16;
  // The parameter's step count in this device's memory (one i64), or null. When set, the entry first adds one to it
  // unless the step is skipped (StepScalars::found_inf), then takes the step's values from the count t there:
  // SGD's momentum step is a first one when t == 1 (or first_step: a new buffer), Adam's step_size and
  // bias_correction2_sqrt are adam_bias_corrections(lr, t) (kernels/optimizer_rules.h, as the host computes them)
  // and the slot's own are unused. So a step the device skips does not count, and the host never needs to know it did
  // (core/optim/optimizer.h: step_unless).
  int64_t* step = nullptr;
};

// The values of a step that change from step to step (lr under a schedule; Adam's bias corrections), read from
// device memory when the kernel runs instead of from the host's arguments: a captured graph's optimizer step then
// takes new values at each replay (core/graph.h). Layout: [lr, step_size, bias_correction2_sqrt] (f64); when set,
// they replace hyper.lr and every slot's step_size and bias_correction2_sqrt (slots with a device step count use
// only the lr).
//
// found_inf: when set, the step reads the f32 there when it runs and, if it is nonzero, changes nothing (no
// parameter, state or low-precision copy is written): the step that GradScaler skips, decided on the device so the
// host never waits for the decision (update_loss_scale resets the flag afterwards).
struct StepScalars {
  const double* device = nullptr;
  const float* found_inf = nullptr;
  static constexpr int kCount = 3;
};

// GradScaler's rule for its scale (update_loss_scale), torch.cuda.amp.GradScaler's options.
struct LossScaleUpdate {
  double growth_factor = 2.0, backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

struct SgdHyper {
  double lr = 0.0, weight_decay = 0.0, momentum = 0.0, dampening = 0.0;
  bool nesterov = false, maximize = false;
  StepScalars scalars{};
};

struct AdamHyper {
  double lr = 0.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled_weight_decay = false, amsgrad = false, maximize = false;
  StepScalars scalars{};
};

// A row-major matrix operand of gemm: `data` with row stride `ld`, used as op(A) = A^T when transposed.
struct MatrixArg {
  const void* data = nullptr;
  int64_t ld = 0;
  bool transposed = false;
};

// What gemm applies to c after alpha * op(a) @ op(b) (beta must be 0 then): + bias[col] (n contiguous elements of
// c's dtype, one per column: a Linear layer's bias), then max(., 0) when relu (relu needs the bias). cuBLASLt fuses
// both into the matmul's epilogue; the CPU broadcasts the bias into c and accumulates onto it (PyTorch's addmm),
// then clamps.
struct GemmEpilogueArgs {
  const void* bias = nullptr;
  bool relu = false;
};

// The products of gemm_batched, all of one shape: product p reads a at a.data + p * stride_a elements, b at
// b.data + p * stride_b, and writes c at c + p * stride_c. Strides are >= 0 (0 shares an operand across the batch,
// as an expanded tensor does); c's products must not overlap.
struct GemmBatch {
  int64_t count = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

struct ReduceShape {
  int64_t outer = 1;
  int64_t n = 1;
  int64_t inner = 1;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;  // "cpu", "test", "cuda:0"

  // --- memory: blocks are uninitialised, 64-byte aligned, and come from the backend's caching allocator
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t nbytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t nbytes) = 0;  // returns with the bytes there
  virtual void copy(void* dst, const void* src, size_t nbytes) = 0;               // within this device
  virtual void memset_zero(void* dst, size_t nbytes) = 0;
  // Host memory this device copies from and to fastest (page-locked on a GPU), for loaders and staging.
  virtual void* allocate_pinned_host(size_t nbytes) = 0;
  virtual void free_pinned_host(void* ptr, size_t nbytes) = 0;
  virtual MemoryStats memory_stats() const = 0;
  // The peak starts again from what is allocated now (torch.cuda.reset_peak_memory_stats).
  virtual void reset_peak_memory_stats() = 0;
  virtual void empty_cache() = 0;  // gives cached blocks back to the system
  // The block at `ptr` (from allocate, not yet freed) is also used by the work queued on `stream` (nullptr: the
  // compute stream), not only by the stream that allocated it: once freed, it is handed out again only after the
  // work queued on `stream` up to the free has run (torch's Tensor.record_stream). The CPU runs everything at once.
  virtual void record_stream(void* ptr, StreamHandle stream) = 0;

  // --- streams and events (the calling thread's current stream)
  virtual void synchronize() = 0;  // the host waits for everything queued so far
  virtual EventHandle create_event() = 0;
  virtual void destroy_event(EventHandle event) = 0;
  virtual void record_event(EventHandle event) = 0;       // marks the current point of the stream
  virtual void wait_event(EventHandle event) = 0;         // the stream waits for the event (not the host)
  virtual void synchronize_event(EventHandle event) = 0;  // the host waits for the event
  virtual bool query_event(EventHandle event) = 0;        // has the event passed? never waits
  // Events that also keep the time they passed (a GPU's timing events; host time on the CPU), for timelines.
  virtual EventHandle create_timing_event() = 0;          // destroyed with destroy_event
  virtual double elapsed_ms(EventHandle start, EventHandle end) = 0;  // waits for both to pass
  // Side streams (a loader's copy stream): work queued on different streams runs in any order unless ordered by
  // events. Each thread's current stream is the compute stream (nullptr) unless set_current_stream chose another.
  // The CPU runs everything at once, so its streams are only names.
  virtual StreamHandle create_stream() = 0;
  virtual void destroy_stream(StreamHandle stream) = 0;  // waits for the work queued on it
  virtual StreamHandle current_stream() = 0;
  virtual void set_current_stream(StreamHandle stream) = 0;  // the calling thread's, until set again
  // Copies between device memory and pinned host memory (allocate_pinned_host), queued on the current stream: they
  // return at once, and the host buffer must stay alive and untouched until an event recorded after the copy has
  // passed (the CPU copies at once).
  virtual void copy_from_host_async(void* dst, const void* pinned_src, size_t nbytes) = 0;
  virtual void copy_to_host_async(void* pinned_dst, const void* src, size_t nbytes) = 0;

  // --- graphs (CUDA graphs; core/graph.h is the user's side). Between begin_capture and end_capture the calling
  // thread's stream records its work instead of running it; replay_graph runs the recording again, on the same
  // buffers, with kernel arguments as captured (what must change per replay is read from device memory:
  // StepScalars, RandomArgs::offset_base). While capturing, the host cannot wait or read (synchronize,
  // copy_to_host, copy_from_host are errors). Memory allocated while capturing belongs to the
  // graph's private pool: freed, it is reused only within that graph, so a replay never writes a block someone
  // else holds; blocks from before the capture freed while capturing stay reserved until the graph is destroyed
  // (a replay may still use them). Index checks in a graph report at the host synchronisation after a replay.
  // A backend without graphs (the CPU runs everything at once) throws from begin_capture.
  virtual void begin_capture() = 0;
  virtual GraphHandle end_capture() = 0;  // also ends a failed capture (then throws, the capture discarded)
  virtual void replay_graph(GraphHandle graph) = 0;
  virtual void destroy_graph(GraphHandle graph) = 0;  // waits for its replays; frees its pool

  // --- elementwise over strided, broadcast operands (kernels/elementwise_args.h says which dtypes each op takes)
  virtual void unary(UnaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& in,
                     const OpScalars& scalars) = 0;
  virtual void binary(BinaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a,
                      const StridedArg& b, const OpScalars& scalars) = 0;
  virtual void ternary(TernaryOp op, const LoopShape& loop, const StridedArg& out, const StridedArg& a,
                       const StridedArg& b, const StridedArg& c, const OpScalars& scalars) = 0;
  virtual void fill(const LoopShape& loop, const StridedArg& out, double value) = 0;  // value in out's dtype
  // out[i] = start + i * step for i < n, contiguous, any dtype but bool.
  virtual void arange(void* out, DType dtype, int64_t n, double start, double step) = 0;

  // --- reductions over a contiguous input viewed as (outer, n, inner): output (o, j) reduces in[o, :, j]
  // Sums accumulate in f64 (i64 for integers) in index order and round once; dtypes f32, f64, bf16, f16, i64.
  virtual void sum(const void* in, void* out, DType dtype, const ReduceShape& shape) = 0;
  // Sum of squared deviations from the mean, divided by `divisor`, two passes in f64; floating dtypes.
  virtual void variance(const void* in, void* out, DType dtype, const ReduceShape& shape, double divisor) = 0;
  // Max or min and the index (i64) of the first occurrence; NaN wins, as PyTorch on CPU. Any dtype.
  virtual void extreme(bool is_max, const void* in, void* values, int64_t* indices, DType dtype,
                       const ReduceShape& shape) = 0;
  // grad_in[o, indices[o, j], j] = grad[o, j]; grad_in is zero elsewhere already. Floating dtypes.
  virtual void extreme_backward(const void* grad, const int64_t* indices, void* grad_in, DType dtype,
                                const ReduceShape& shape) = 0;

  // --- softmax, log-softmax and losses
  // Shapes are ReduceShapes: a contiguous tensor as (outer, n, inner). Softmax runs along n; the class losses take
  // (N, C, inner) logits and N * inner targets (i64).
  // The upstream gradient of a loss: per element (reduction none; `data` holds one value per loss element) or
  // one scalar divided by the divisor: `count` (device memory, one i64: a class loss's mean over the targets that
  // count, known only on the device) when set, else `divisor` (the count for mean, 1 for sum). Its dtype is the
  // loss's.
  struct LossGrad {
    const void* data = nullptr;
    bool per_element = false;
    double divisor = 1.0;
    const int64_t* count = nullptr;
  };
  // y = softmax(x) or log_softmax(x) along layout.n; floating dtypes, computed in acc_t (bf16/f16 in f32).
  virtual void softmax(const void* x, void* y, DType dtype, const ReduceShape& layout, bool log) = 0;
  // gx from the saved output y and the gradient g (all contiguous, one dtype).
  virtual void softmax_backward(const void* y, const void* g, void* gx, DType dtype, const ReduceShape& layout,
                                bool log) = 0;
  // Counts the class targets that are not ignore_index into `count` (device memory, one i64), and checks the others
  // lie in [0, bounds.size) as the indexing entries check indices: the CPU throws at once; a GPU reports the first
  // bad target at the next host synchronisation, and the loss entries skip a bad target meanwhile (as ignored).
  // No host read: a training step never waits for its targets.
  virtual void check_class_targets(const int64_t* target, int64_t n, int64_t ignore_index, const IndexBounds& bounds,
                                   int64_t* count) = 0;
  // Fused log-softmax + NLL with label smoothing on contiguous logits: probs (the softmax, saved for backward) and
  // one loss per target (0 where ignored), computed in `dtype` (f32/f64), as are probs, losses and the backward's
  // upstream gradient. The logits, and the backward's gx, are of `io_dtype`: `dtype`, or bf16/f16 with f32 (read
  // into f32 and gx rounded once: bitwise a conversion before and after, without their kernels).
  virtual void cross_entropy(const void* logits, const int64_t* target, void* probs, void* losses, DType dtype,
                             DType io_dtype, const ReduceShape& layout, int64_t ignore_index,
                             double label_smoothing) = 0;
  virtual void cross_entropy_backward(const void* probs, const int64_t* target, const LossGrad& grad, void* gx,
                                      DType dtype, DType io_dtype, const ReduceShape& layout, int64_t ignore_index,
                                      double label_smoothing) = 0;
  // losses[r] = -log_probs[target[r]] (0 where ignored); backward writes only the target entries of a zeroed gx.
  virtual void nll_loss(const void* log_probs, const int64_t* target, void* losses, DType dtype,
                        const ReduceShape& layout, int64_t ignore_index) = 0;
  virtual void nll_loss_backward(const int64_t* target, const LossGrad& grad, void* gx, DType dtype,
                                 const ReduceShape& layout, int64_t ignore_index) = 0;
  // out (a scalar of dtype) = sum of n losses, accumulated in double, / the divisor: *count (device memory) when
  // count is set, else `divisor` (0 / 0 is NaN, as PyTorch).
  virtual void sum_losses(const void* losses, void* out, DType dtype, int64_t n, double divisor,
                          const int64_t* count) = 0;
  // diff = a - b (saved for backward), and either squares = diff^2 (non-null) or total (a scalar) = sum of
  // diff^2 in double / divisor. Contiguous, one floating dtype.
  virtual void mse_loss(const void* a, const void* b, void* diff, void* squares, void* total, DType dtype,
                        int64_t n, double divisor) = 0;
  virtual void mse_loss_backward(const void* diff, const LossGrad& grad, void* gx, DType dtype, int64_t n) = 0;

  // --- layer and batch norm
  // Contiguous f32/f64 data; statistics and parameter gradients in f64 buffers of this device.
  // layer_norm over x as (rows, d): mean/rstd per row; weight and bias (of d, x's dtype) may be null.
  virtual void layer_norm(const void* x, const void* weight, const void* bias, void* y, double* mean, double* rstd,
                          DType dtype, int64_t rows, int64_t d, double eps) = 0;
  // gx, gweight, gbias each may be null (not needed); gweight and gbias are accumulated into (zero them first).
  virtual void layer_norm_backward(const void* x, const void* weight, const void* gy, const double* mean,
                                   const double* rstd, void* gx, double* gweight, double* gbias, DType dtype,
                                   int64_t rows, int64_t d) = 0;
  // batch_norm over x as (N, C, S) = (outer, size, inner): the batch mean, biased and unbiased variance per
  // channel (training).
  virtual void batch_norm_stats(const void* x, DType dtype, const ReduceShape& layout, double* mean, double* var,
                                double* unbiased_var) = 0;
  // invstd = 1 / sqrt(var + eps); y = x * scale + shift with scale = invstd * weight, shift = bias - mean * scale
  // per channel. weight and bias are f64 and may be null (1 and 0).
  virtual void batch_norm(const void* x, void* y, DType dtype, const ReduceShape& layout, const double* mean,
                          const double* var, const double* weight, const double* bias, double eps,
                          double* invstd) = 0;
  // sum_gy and sum_gy_xhat per channel; gx (may be null) from the batch statistics (training) or as gy * weight *
  // invstd (eval). weight is f64 and may be null.
  virtual void batch_norm_backward(const void* x, const void* gy, void* gx, DType dtype, const ReduceShape& layout,
                                   const double* weight, const double* mean, const double* invstd, bool training,
                                   double* sum_gy, double* sum_gy_xhat) = 0;

  // --- indexing, embedding and concatenation (kernels/index_args.h; cat is copies into views of its output)
  // Entries that read indices check them first (IndexBounds), so a bad index is an error, never a stray access.
  // out (outer, count, inner) = rows index[j] of x (outer, size, inner); x and out contiguous, any dtype.
  virtual void index_select(DType dtype, const RowLayout& x_layout, void* out, const void* x, const void* index,
                            int64_t count, const IndexBounds& bounds) = 0;
  // grad_x (outer, size, inner) += grad_out (outer, count, inner) at rows index[j], skipping rows whose index is
  // `skip` (embedding's padding_idx; -1 for none); floating dtypes, contiguous. Indices as index_select checked.
  virtual void index_select_backward(DType dtype, const RowLayout& x_layout, void* grad_x, const void* grad_out,
                                     const void* index, int64_t count, int64_t skip) = 0;
  // For every position p of the index's shape `loop` (index contiguous over it): out[p] = src[p, dim <- index[p]].
  // src's strides are 0 along dim and dim_stride (elements) is its real stride there; any dtype, out's = src's.
  virtual void gather(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
                      int64_t dim_stride, const IndexBounds& bounds) = 0;
  // out[p, dim <- index[p]] += src[p]: out's strides 0 along dim, dim_stride its real one; numeric dtypes, one for
  // both. Indices may repeat (the CPU runs serially; a GPU needs atomics or a sort).
  virtual void scatter_add(const LoopShape& loop, const StridedArg& out, const StridedArg& src, const void* index,
                           int64_t dim_stride, const IndexBounds& bounds) = 0;
  // out (n, bounds.size) i64, zero on entry: out[i, index[i]] = 1.
  virtual void one_hot(void* out, const void* index, int64_t n, const IndexBounds& bounds) = 0;

  // --- GEMM: c (m x n, row-major, leading dimension ldc) = alpha * op(a) @ op(b) + beta * c; a, b and c of one
  // floating dtype; bf16 and f16 accumulate in f32 and round once (f32 without TF32, as PyTorch's default).
  // Operands are strided matrices (a transposed flag instead of a copy for x.t() and weight.t()).
  virtual void gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, const MatrixArg& a,
                    const MatrixArg& b, double beta, void* c, int64_t ldc, const GemmEpilogueArgs& epilogue) = 0;
  // gemm (no epilogue) for every product of `batch` (bmm): one call of cuBLASLt's strided batch on a GPU, so a
  // batch of small products is one launch, not one each; the CPU loops over gemm.
  virtual void gemm_batched(DType dtype, const GemmBatch& batch, int64_t m, int64_t n, int64_t k, double alpha,
                            const MatrixArg& a, const MatrixArg& b, double beta, void* c, int64_t ldc) = 0;

  // --- convolution and pooling (kernels/conv_pool_args.h: contiguous NCHW buffers)
  // The dtypes these entries take: every backend f32 and f64; a GPU's bf16 and f16 too (cuDNN's convolutions with
  // f32 accumulation; pooling in f32 arithmetic, rounded once, so bitwise what the f32 route gives). Core runs any
  // other floating dtype through f32.
  virtual bool conv_pool_takes(DType dtype) const = 0;
  // y = conv(x, w) + b (b may be null), then with `relu` y = relu(y) (NaN kept, as the elementwise ReLU): a GPU
  // clamps in its bias kernel, so with a bias the ReLU costs no launch of its own.
  virtual void conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* b,
                              void* y, bool relu) = 0;
  // Gradients of sum(y * gy), overwritten: gx (input gradient, from gy and w) and gw, gb (weight and bias
  // gradients, from x and gy). A null output is not computed; gb needs gw; x may be null when gw is. One entry
  // for all three, so a backend can share work between them (oneDNN reuses the reordered gy).
  virtual void conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy, const void* w,
                               void* gx, void* gw, void* gb) = 0;
  // y = max over each window; indices (i32) = flat h * in_w + w of the maximum within its plane, as PyTorch (first
  // on ties, a NaN wins); an empty window gives -inf and -1.
  virtual void max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, void* indices) = 0;
  // gx = 0, then gx[indices] += gy.
  virtual void max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, const void* indices,
                                   void* gx) = 0;
  // y = window sum / divisor (avg_pool2d, and adaptive_avg_pool2d when g.adaptive); gx is overwritten.
  virtual void avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y) = 0;
  virtual void avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, void* gx) = 0;

  // --- random numbers: out[i] (n contiguous elements of dtype, bool excluded) drawn from the Philox stream words
  // args.offset + i * W ... (W = random_words_per_element), so every device gives the same numbers for a seed and
  // offset (normals to the rounding of the device's log and cos).
  virtual void random_fill(void* out, DType dtype, int64_t n, const RandomArgs& args) = 0;
  // Inverted dropout in one pass (one launch on a GPU, not a fill and a multiply): mask[i] = what random_fill
  // writes for `args` (bernoulli: args.b with probability args.a, else 0), y[i] = x[i] * mask[i] in binary mul's
  // arithmetic. x, mask and y: n contiguous elements of a floating dtype.
  virtual void dropout(const void* x, void* mask, void* y, DType dtype, int64_t n, const RandomArgs& args) = 0;

  // --- optimizer updates (fused multi-tensor steps: every parameter of one dtype in one call) and the DDP
  // scale-copy. Parameters, gradients and state are contiguous, of `dtype` (f32 or f64); PyTorch 1.13's rules.
  virtual void sgd_step(DType dtype, const SgdHyper& hyper, const OptimizerSlot* slots, size_t count) = 0;
  virtual void adam_step(DType dtype, const AdamHyper& hyper, const OptimizerSlot* slots, size_t count) = 0;
  // sum |x|^p over n contiguous elements (max |x| when p is infinite), in f64, independent of the thread count,
  // into *out (one double in this device's memory): queued like any kernel, so clipping never waits on the host.
  virtual void norm_power_sum(DType dtype, const void* data, int64_t n, double p, double* out) = 0;
  // dst = src * scale over n contiguous elements of one dtype (a gradient into or out of a DDP bucket).
  virtual void scale_copy(DType dtype, void* dst, const void* src, int64_t n, double scale) = 0;

  // --- dynamic loss scaling (core/amp/grad_scaler.h), every value in this device's memory so the host never waits.
  // GradScaler's unscale (torch._amp_foreach_non_finite_check_and_unscale_): each of the `count` gradients (grads[i]:
  // numels[i] contiguous elements of `dtype`, f32 or f64) is multiplied in place by inv = 1 / *scale (f32, rounded
  // once); *found_inf (f32) becomes 1 when some element was inf or NaN before, else keeps its value. One launch per
  // 32 gradients on a GPU.
  virtual void unscale_gradients(DType dtype, void* const* grads, const int64_t* numels, size_t count,
                                 const float* scale, float* found_inf) = 0;
  // GradScaler's update (torch._amp_update_scale_): after a step with *found_inf != 0, *scale *= backoff_factor and
  // *growth_tracker = 0; otherwise ++*growth_tracker, and at growth_interval *scale *= growth_factor (kept only if
  // finite) and the tracker restarts at 0. Products in f64, rounded once to f32. Then *found_inf = 0 for the next
  // step. One thread on a GPU.
  virtual void update_loss_scale(float* scale, int32_t* growth_tracker, float* found_inf,
                                 const LossScaleUpdate& rule) = 0;
};

// The CPU's backend (kernels/cpu), always present.
Backend& cpu_backend();
// GPU `device`'s backend (kernels/cuda); throws naming the request when the build has no CUDA path or the machine
// no such GPU.
Backend& cuda_backend(int device);
// The test device's backend: null until a test installs one (tests/support/test_device.h).
Backend* test_backend();
void set_test_backend(Backend* backend);

}  // namespace tessera::kernels
