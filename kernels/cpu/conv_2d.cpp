// Conv2dGeometry helpers, the backend choice (oneDNN for f32 when it can express the geometry, im2col + GEMM
// otherwise: f64, and the rare geometries oneDNN rejects; bf16 on oneDNN's bf16 kernels or through f32 copies), and
// CpuBackend's conv2d entries, which only turn device addresses into host ones (host(); null stays null) and pick
// the element type.
#include "kernels/cpu/conv_2d.h"

#include <functional>
#include <type_traits>

#include "kernels/common/check.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/onednn_context.h"
#include "kernels/cpu/widened.h"
#include "kernels/gemm_epilogue.h"

namespace tessera::kernels::cpu {

namespace {
template <typename T> bool use_onednn(const Conv2dGeometry& g) {
  return std::is_same_v<T, float> && onednn_conv2d_supported(g);
}
}  // namespace

template <typename T> void conv2d_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* b, T* y) {
  if constexpr (std::is_same_v<T, float>)
    if (use_onednn<T>(g)) return onednn_conv2d_forward(g, x, w, b, y);
  im2col_conv2d_forward<T>(g, x, w, b, y);
}

template <typename T>
void conv2d_backward(const Conv2dGeometry& g, const T* x, const T* gy, const T* w, T* gx, T* gw, T* gb) {
  if constexpr (std::is_same_v<T, float>)
    if (use_onednn<T>(g)) return onednn_conv2d_backward(g, x, gy, w, gx, gw, gb);
  if (gx != nullptr) im2col_conv2d_backward_data<T>(g, gy, w, gx);
  if (gw != nullptr) im2col_conv2d_backward_weights<T>(g, x, gy, gw, gb);
}

template void conv2d_forward<float>(const Conv2dGeometry&, const float*, const float*, const float*, float*);
template void conv2d_forward<double>(const Conv2dGeometry&, const double*, const double*, const double*, double*);
template void conv2d_backward<float>(const Conv2dGeometry&, const float*, const float*, const float*, float*, float*,
                                     float*);
template void conv2d_backward<double>(const Conv2dGeometry&, const double*, const double*, const double*, double*,
                                      double*, double*);

namespace {
int64_t input_count(const Conv2dGeometry& g) { return g.batch * g.in_channels * g.in_h * g.in_w; }
int64_t weight_count(const Conv2dGeometry& g) {
  return g.out_channels * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
}
int64_t output_count(const Conv2dGeometry& g) { return g.batch * g.out_channels * g.out_h * g.out_w; }
}  // namespace

void conv2d_forward_bf16(const Conv2dGeometry& g, const void* x, const void* w, const void* b, void* y) {
  if (onednn_conv2d_forward_bf16(g, x, w, b, y)) return;
  Widened f32;
  conv2d_forward<float>(g, f32.in(x, input_count(g)), f32.in(w, weight_count(g)), f32.in(b, g.out_channels),
                        f32.out(y, output_count(g)));
  f32.finish();
}

void conv2d_backward_bf16(const Conv2dGeometry& g, const void* x, const void* gy, const void* w, void* gx, void* gw,
                          void* gb) {
  if (onednn_conv2d_backward_bf16(g, x, gy, w, gx, gw, gb)) return;
  Widened f32;
  conv2d_backward<float>(g, f32.in(x, input_count(g)), f32.in(gy, output_count(g)), f32.in(w, weight_count(g)),
                         f32.out(gx, input_count(g)), f32.out(gw, weight_count(g)), f32.out(gb, g.out_channels));
  f32.finish();
}

bool CpuBackend::conv_pool_takes(DType dtype) const {
  return dtype == DType::f32 || dtype == DType::f64 || (dtype == DType::bf16 && onednn_bf16_units());
}

namespace {
// The kernels exist for f32 and f64, and bf16 where conv_pool_takes says so; core computes the others in f32.
template <typename F> void dispatch_conv(DType dtype, const char* op, F&& f) {
  if (dtype == DType::f32) return f.template operator()<float>();
  if (dtype == DType::f64) return f.template operator()<double>();
  TESSERA_THROW(op, ": expected f32 or f64 buffers, got ", dtype_name(dtype));
}
}  // namespace

void CpuBackend::conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* b,
                                void* y, bool relu) {
  auto in = [&](const void* p) { return p ? host(p) : nullptr; };
  if (dtype == DType::bf16) conv2d_forward_bf16(g, in(x), in(w), in(b), host(y));
  else dispatch_conv(dtype, "conv2d", [&]<typename T>() {
    cpu::conv2d_forward<T>(g, static_cast<const T*>(in(x)), static_cast<const T*>(in(w)),
                           static_cast<const T*>(in(b)), static_cast<T*>(host(y)));
  });
  // A separate pass: oneDNN's ReLU post-op turns a NaN into 0, where PyTorch's (and ours) keeps it.
  const int64_t count = g.batch * g.out_channels * g.out_h * g.out_w;
  if (relu && count > 0) relu_in_place(*this, dtype, 1, count, y, 0);
}

void CpuBackend::conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy, const void* w,
                                 void* gx, void* gw, void* gb) {
  auto in = [&](const void* p) { return p ? host(p) : nullptr; };
  auto out = [&](void* p) { return p ? host(p) : nullptr; };
  if (dtype == DType::bf16) return conv2d_backward_bf16(g, in(x), in(gy), in(w), out(gx), out(gw), out(gb));
  dispatch_conv(dtype, "conv2d backward", [&]<typename T>() {
    auto typed_in = [&](const void* p) { return static_cast<const T*>(in(p)); };
    auto typed_out = [&](void* p) { return static_cast<T*>(out(p)); };
    cpu::conv2d_backward<T>(g, typed_in(x), typed_in(gy), typed_in(w), typed_out(gx), typed_out(gw), typed_out(gb));
  });
}

}  // namespace tessera::kernels::cpu
