#include "core/amp/autocast.h"

#include "core/check.h"

namespace tessera::amp {

namespace {
thread_local bool enabled = false;
thread_local DType dtype = DType::bf16;

bool is_half(DType d) { return d == DType::bf16 || d == DType::f16; }
}  // namespace

AutocastGuard::AutocastGuard(DType target, bool enable) : previous_enabled_(enabled), previous_dtype_(dtype) {
  TESSERA_CHECK(!enable || is_half(target), "autocast: the dtype must be bf16 or f16, got ", dtype_name(target));
  enabled = enable;
  if (enable) dtype = target;
}

AutocastGuard::~AutocastGuard() {
  enabled = previous_enabled_;
  dtype = previous_dtype_;
}

bool autocast_enabled() { return enabled; }
DType autocast_dtype() { return dtype; }

bool casts_to_lower(std::initializer_list<const Tensor*> inputs) {
  if (!enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->dtype() == DType::f32) return true;
  return false;
}

Tensor lower_precision(const Tensor& t) {
  return enabled && t.defined() && t.dtype() == DType::f32 ? t.to(dtype) : t;
}

bool casts_to_f32(std::initializer_list<const Tensor*> inputs) {
  if (!enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && is_half(t->dtype())) return true;
  return false;
}

Tensor to_f32(const Tensor& t) { return enabled && t.defined() && is_half(t.dtype()) ? t.to(DType::f32) : t; }

}  // namespace tessera::amp
