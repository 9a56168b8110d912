#pragma once
// Internal: the element loops of optimizer steps. They run directly on contiguous parameter, gradient and state
// buffers of one dtype (f32 or f64), split over the thread pool; each element's update is independent.
#include <algorithm>
#include <cstdint>

#include "core/tensor.h"
#include "kernels/cpu/parallel.h"

namespace tessera::optim::detail {

// Elements per parallel chunk: large enough that scheduling costs little against a few flops per element.
inline constexpr int64_t kStepGrain = 32768;

// Calls f.template operator()<T>() with T = float or double for the parameter's dtype.
template <typename F>
void dispatch_param(const Tensor& param, const char* op, F&& f) {
  switch (param.dtype()) {
    case DType::f32: f.template operator()<float>(); return;
    case DType::f64: f.template operator()<double>(); return;
    default: TESSERA_THROW(op, ": parameters must be f32 or f64, got ", dtype_name(param.dtype()));
  }
}

// Calls f.template operator()<B1, B2, ...>() with the runtime flags as template arguments, so the element loops
// are compiled without branches on options (and vectorise).
template <bool... Bs, typename F>
void with_flags(F&& f) {
  f.template operator()<Bs...>();
}
template <bool... Bs, typename F, typename... Rest>
void with_flags(F&& f, bool first, Rest... rest) {
  if (first) with_flags<Bs..., true>(f, rest...);
  else with_flags<Bs..., false>(f, rest...);
}

// Elements per block of for_each_block: a block's temporaries stay in L1.
inline constexpr int64_t kStepBlock = 1024;

// body(begin, end) over blocks of at most kStepBlock elements, in parallel chunks.
template <typename Body>
void for_each_block(int64_t n, Body&& body) {
  kernels::cpu::parallel_for(n, kStepGrain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b += kStepBlock) body(b, std::min(end, b + kStepBlock));
  });
}

// out[i] = sqrt(in[i]) (IEEE, so identical to std::sqrt). A loop of std::sqrt does not vectorise under GCC's
// default -fmath-errno (it keeps a branch to set errno), hence the explicit SIMD.
void sqrt_into(float* out, const float* in, int64_t n);
void sqrt_into(double* out, const double* in, int64_t n);

// Typed pointer to the data of a contiguous tensor (nullptr for an undefined one).
template <typename T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace tessera::optim::detail
