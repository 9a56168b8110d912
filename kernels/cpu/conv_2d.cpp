// Conv2dGeometry helpers and the backend choice: oneDNN for f32 when it can express the geometry, im2col + GEMM
// otherwise (f64, and the rare geometries oneDNN rejects).
#include "kernels/cpu/conv_2d.h"

#include <functional>
#include <type_traits>

namespace tessera::kernels::cpu {

void Conv2dGeometry::compute_output_size() {
  out_h = (in_h + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1;
  out_w = (in_w + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1;
}

size_t Conv2dGeometryHash::operator()(const Conv2dGeometry& g) const {
  size_t h = 0;
  for (int64_t v : {g.batch, g.in_channels, g.in_h, g.in_w, g.out_channels, g.kernel_h, g.kernel_w, g.stride_h,
                    g.stride_w, g.pad_h, g.pad_w, g.dilation_h, g.dilation_w, g.groups, g.out_h, g.out_w})
    h = h * 1000003u ^ std::hash<int64_t>()(v);
  return h;
}

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

}  // namespace tessera::kernels::cpu
