#include "core/amp/autocast.h"

#include "core/amp/cast_cache.h"
#include "core/check.h"

namespace tessera::amp {

namespace {
thread_local bool enabled = false;
thread_local DType dtype = DType::bf16;
thread_local bool cache_enabled = true;

bool is_half(DType d) { return d == DType::bf16 || d == DType::f16; }
// What a GEMM or convolution casts to the autocast dtype: every floating dtype but f64 and the target itself, as
// PyTorch's cached_cast (is_eligible) does: f32, and the other half type (f16 under bf16 autocast, bf16 under f16).
bool is_lowered(DType d) { return d != DType::f64 && d != dtype && is_floating(d); }

// Autocast is on and one of the defined inputs has a dtype `cast_from` picks.
bool any_cast(std::initializer_list<const Tensor*> inputs, bool (*cast_from)(DType)) {
  if (!enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && cast_from(t->dtype())) return true;
  return false;
}

Tensor cast_if(const Tensor& t, bool (*cast_from)(DType), DType to) {
  return enabled && t.defined() && cast_from(t.dtype()) ? t.to(to) : t;
}
}  // namespace

AutocastGuard::AutocastGuard(DType target, bool enable, bool cache)
    : previous_enabled_(enabled), previous_dtype_(dtype), previous_cache_(cache_enabled) {
  TESSERA_CHECK(!enable || is_half(target), "autocast: the dtype must be bf16 or f16, got ", dtype_name(target));
  enabled = enable;
  if (enable) {
    dtype = target;
    cache_enabled = cache;
  }
}

AutocastGuard::~AutocastGuard() {
  enabled = previous_enabled_;
  dtype = previous_dtype_;
  cache_enabled = previous_cache_;
}

bool autocast_enabled() { return enabled; }
DType autocast_dtype() { return dtype; }

bool casts_to_lower(std::initializer_list<const Tensor*> inputs) { return any_cast(inputs, is_lowered); }
Tensor lower_precision(const Tensor& t) {
  if (enabled && cache_enabled && t.defined() && t.dtype() == DType::f32) return cached_cast(t, dtype);
  return cast_if(t, is_lowered, dtype);
}
bool casts_to_f32(std::initializer_list<const Tensor*> inputs) { return any_cast(inputs, is_half); }
Tensor to_f32(const Tensor& t) { return cast_if(t, is_half, DType::f32); }

}  // namespace tessera::amp
