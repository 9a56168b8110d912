// Conv2dGeometry helpers, the backend choice (oneDNN for f32 when it can express the geometry, im2col + GEMM
// otherwise: f64, and the rare geometries oneDNN rejects), and CpuBackend's conv2d entries, which only turn device
// addresses into host ones (host(); null stays null) and pick the element type.
#include "kernels/cpu/conv_2d.h"

#include <functional>
#include <type_traits>

#include "kernels/common/check.h"
#include "kernels/cpu/cpu_backend.h"
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
// The kernels exist for f32 and f64; core computes bf16/f16 convolutions in f32.
template <typename F> void dispatch_conv(DType dtype, const char* op, F&& f) {
  if (dtype == DType::f32) return f.template operator()<float>();
  if (dtype == DType::f64) return f.template operator()<double>();
  TESSERA_THROW(op, ": expected f32 or f64 buffers, got ", dtype_name(dtype));
}
}  // namespace

void CpuBackend::conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* b,
                                void* y, bool relu) {
  dispatch_conv(dtype, "conv2d", [&]<typename T>() {
    const T* bias = b ? host(static_cast<const T*>(b)) : nullptr;
    cpu::conv2d_forward<T>(g, host(static_cast<const T*>(x)), host(static_cast<const T*>(w)), bias,
                           host(static_cast<T*>(y)));
  });
  // A separate pass: oneDNN's ReLU post-op turns a NaN into 0, where PyTorch's (and ours) keeps it.
  const int64_t count = g.batch * g.out_channels * g.out_h * g.out_w;
  if (relu && count > 0) relu_in_place(*this, dtype, 1, count, y, 0);
}

void CpuBackend::conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy, const void* w,
                                 void* gx, void* gw, void* gb) {
  dispatch_conv(dtype, "conv2d backward", [&]<typename T>() {
    auto in = [&](const void* p) { return p ? host(static_cast<const T*>(p)) : nullptr; };
    auto out = [&](void* p) { return p ? host(static_cast<T*>(p)) : nullptr; };
    cpu::conv2d_backward<T>(g, in(x), in(gy), in(w), out(gx), out(gw), out(gb));
  });
}

}  // namespace tessera::kernels::cpu
