#pragma once
// Autocast (torch.autocast): inside an AutocastGuard on this thread, ops pick their compute dtype as PyTorch's
// autocast does, so a model written in f32 trains in mixed precision without changes:
//  - GEMMs and convolutions (linear, linear_relu, mm, bmm, matmul, conv2d, conv2d_relu) cast f32 inputs, and those
//    of the other half type, to the autocast dtype (bf16 or f16; the GEMM accumulates in f32) and return that dtype;
//  - softmax, log_softmax, cross_entropy, nll_loss, mse_loss and layer_norm cast bf16/f16 inputs to f32 and return
//    f32 (their sums and statistics need the range and precision; cross_entropy reads bf16/f16 logits into f32
//    inside its own kernel and rounds their gradient once, bitwise the same without the two conversions);
//  - exp, log, rsqrt, pow, rdiv (s / x, PyTorch's reciprocal) and sum, also on PyTorch's CUDA f32 list, cast bf16/f16
//    inputs to f32 and return f32; mean is on no list and keeps its input's dtype (it sums in double either way);
//  - batch_norm, on no list, returns its input's dtype (a bf16 activation stays bf16), computing in f32 inside;
//  - every other op runs in its inputs' dtype. f64 is never cast. Parameters stay f32 (the casts are
//    differentiable, so gradients reach them in f32): master weights and optimizer state in f32;
//  - a parameter's conversion is cached from step to step, the optimizer's step rewriting the copy as it updates
//    the parameter (core/amp/cast_cache.h: the same bits, one conversion kernel per parameter and step fewer);
//    cache = false converts each time, as PyTorch does.
//   { amp::AutocastGuard autocast(DType::bf16); loss = cross_entropy(model(x), y); }  // f32 loss
//   loss.backward();  // outside the region, as in PyTorch
// f16 needs loss scaling (amp::GradScaler); bf16 has f32's range and does not.
#include "core/tensor.h"

namespace tessera::amp {

class AutocastGuard {
 public:
  // dtype: bf16 or f16; enabled false: a plain region. cache: keep parameters' conversions (cast_cache.h).
  explicit AutocastGuard(DType dtype, bool enabled = true, bool cache = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool previous_enabled_;
  DType previous_dtype_;
  bool previous_cache_;
};

bool autocast_enabled();
DType autocast_dtype();  // meaningful while enabled

// For ops. True when autocast is on and one of the (possibly undefined) tensors is floating, not f64 and not the
// autocast dtype (f32, or the other half type): the op then calls itself again on lower_precision() of each input.
bool casts_to_lower(std::initializer_list<const Tensor*> inputs);
// f32, bf16 or f16 -> the autocast dtype while enabled (f32 parameters through the cast cache); f64 and non-floating
// tensors unchanged.
Tensor lower_precision(const Tensor& t);
// True when autocast is on and one of the tensors is bf16 or f16: the op then runs on to_f32() of each.
bool casts_to_f32(std::initializer_list<const Tensor*> inputs);
Tensor to_f32(const Tensor& t);  // bf16/f16 -> f32 while enabled; anything else unchanged

}  // namespace tessera::amp
