// Convolution as im2col + GEMM (OpenBLAS), for every floating type BLAS has (f32, f64) and every geometry.
// Per image and group: cols (C/g * KH * KW, OH * OW) holds the input patches, so that
//   forward:          y[n, g]  = W[g] (OC/g, K) @ cols
//   backward data:    cols     = W[g]^T @ gy[n, g];  gx[n, g] = col2im(cols)
//   backward weights: gW[g]   += gy[n, g] @ cols^T
// A 1x1 kernel with unit stride and no padding needs no cols: the input plane is already that matrix.
// Images run one after another; BLAS parallelises each GEMM.
#include <vector>

#include "kernels/cpu/conv_2d.h"
#include "kernels/cpu/gemm.h"

namespace tessera::kernels::cpu {

namespace {

void gemm(int64_t m, int64_t n, int64_t k, MatrixRef a, MatrixRef b, float beta, float* c, int64_t ldc) {
  gemm_f32(m, n, k, 1.0f, a, b, beta, c, ldc);
}
void gemm(int64_t m, int64_t n, int64_t k, MatrixRef a, MatrixRef b, double beta, double* c, int64_t ldc) {
  gemm_f64(m, n, k, 1.0, a, b, beta, c, ldc);
}

struct GroupShape {
  int64_t in_c, out_c, k, hw_in, hw_out;  // per group: channels, patch length, plane sizes
};

GroupShape group_shape(const Conv2dGeometry& g) {
  return {g.in_channels / g.groups, g.out_channels / g.groups, g.in_channels / g.groups * g.kernel_h * g.kernel_w,
          g.in_h * g.in_w, g.out_h * g.out_w};
}

bool is_pointwise(const Conv2dGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// Visits every (cols row, output position, input offset or -1 for padding) of one group's patches.
template <typename F>
void for_each_patch_element(const Conv2dGeometry& g, int64_t channels, F&& f) {
  const int64_t hw_out = g.out_h * g.out_w;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t kh = 0; kh < g.kernel_h; ++kh)
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const int64_t row = (c * g.kernel_h + kh) * g.kernel_w + kw;
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          const int64_t col0 = row * hw_out + oh * g.out_w;
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            const int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
            const bool inside = ih >= 0 && ih < g.in_h && iw >= 0 && iw < g.in_w;
            f(col0 + ow, inside ? (c * g.in_h + ih) * g.in_w + iw : int64_t{-1});
          }
        }
      }
}

template <typename T>
void im2col(const Conv2dGeometry& g, int64_t channels, const T* x, T* cols) {
  for_each_patch_element(g, channels, [&](int64_t col, int64_t in) { cols[col] = in >= 0 ? x[in] : T(0); });
}

template <typename T>
void col2im(const Conv2dGeometry& g, int64_t channels, const T* cols, T* gx) {
  for_each_patch_element(g, channels, [&](int64_t col, int64_t in) {
    if (in >= 0) gx[in] += cols[col];
  });
}

}  // namespace

template <typename T>
void im2col_conv2d_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const GroupShape s = group_shape(g);
  const bool direct = is_pointwise(g);
  std::vector<T> cols(direct ? 0 : s.k * s.hw_out);
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      const T* xg = x + (n * g.in_channels + gi * s.in_c) * s.hw_in;
      T* yg = y + (n * g.out_channels + gi * s.out_c) * s.hw_out;
      if (!direct) im2col(g, s.in_c, xg, cols.data());
      if (b != nullptr)
        for (int64_t oc = 0; oc < s.out_c; ++oc)
          for (int64_t i = 0; i < s.hw_out; ++i) yg[oc * s.hw_out + i] = b[gi * s.out_c + oc];
      gemm(s.out_c, s.hw_out, s.k, {w + gi * s.out_c * s.k, s.k, false}, {direct ? xg : cols.data(), s.hw_out, false},
           b != nullptr ? T(1) : T(0), yg, s.hw_out);
    }
}

template <typename T>
void im2col_conv2d_backward_data(const Conv2dGeometry& g, const T* gy, const T* w, T* gx) {
  const GroupShape s = group_shape(g);
  const bool direct = is_pointwise(g);
  std::vector<T> cols(direct ? 0 : s.k * s.hw_out);
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      const T* gyg = gy + (n * g.out_channels + gi * s.out_c) * s.hw_out;
      T* gxg = gx + (n * g.in_channels + gi * s.in_c) * s.hw_in;
      T* target = direct ? gxg : cols.data();
      gemm(s.k, s.hw_out, s.out_c, {w + gi * s.out_c * s.k, s.k, true}, {gyg, s.hw_out, false}, T(0), target,
           s.hw_out);
      if (!direct) {
        std::fill(gxg, gxg + s.in_c * s.hw_in, T(0));
        col2im(g, s.in_c, cols.data(), gxg);
      }
    }
}

template <typename T>
void im2col_conv2d_backward_weights(const Conv2dGeometry& g, const T* x, const T* gy, T* gw, T* gb) {
  const GroupShape s = group_shape(g);
  const bool direct = is_pointwise(g);
  std::vector<T> cols(direct ? 0 : s.k * s.hw_out);
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      const T* xg = x + (n * g.in_channels + gi * s.in_c) * s.hw_in;
      const T* gyg = gy + (n * g.out_channels + gi * s.out_c) * s.hw_out;
      if (!direct) im2col(g, s.in_c, xg, cols.data());
      gemm(s.out_c, s.k, s.hw_out, {gyg, s.hw_out, false}, {direct ? xg : cols.data(), s.hw_out, true},
           n == 0 ? T(0) : T(1), gw + gi * s.out_c * s.k, s.k);
    }
  if (g.batch == 0) std::fill(gw, gw + g.out_channels * s.k, T(0));
  if (gb == nullptr) return;
  for (int64_t oc = 0; oc < g.out_channels; ++oc) {
    double acc = 0;
    for (int64_t n = 0; n < g.batch; ++n) {
      const T* p = gy + (n * g.out_channels + oc) * s.hw_out;
      for (int64_t i = 0; i < s.hw_out; ++i) acc += p[i];
    }
    gb[oc] = static_cast<T>(acc);
  }
}

#define TESSERA_INSTANTIATE_IM2COL(T)                                                                            \
  template void im2col_conv2d_forward<T>(const Conv2dGeometry&, const T*, const T*, const T*, T*);            \
  template void im2col_conv2d_backward_data<T>(const Conv2dGeometry&, const T*, const T*, T*);                \
  template void im2col_conv2d_backward_weights<T>(const Conv2dGeometry&, const T*, const T*, T*, T*);
TESSERA_INSTANTIATE_IM2COL(float)
TESSERA_INSTANTIATE_IM2COL(double)
#undef TESSERA_INSTANTIATE_IM2COL

}  // namespace tessera::kernels::cpu
