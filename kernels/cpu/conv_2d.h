#pragma once
// 2-D convolution on raw NCHW buffers (PyTorch's layout): x (N, C, H, W), w (OC, C/groups, KH, KW), y (N, OC, OH, OW),
// all contiguous. Knows nothing of Tensor or autograd.
//
// conv2d_* pick the backend: f32 goes to oneDNN (primitives cached per geometry) when it can express the geometry,
// everything else to im2col + BLAS GEMM. Backward functions overwrite their outputs (they do not accumulate).
#include <cstddef>
#include <cstdint>

namespace tessera::kernels::cpu {

struct Conv2dGeometry {
  int64_t batch = 0, in_channels = 0, in_h = 0, in_w = 0;
  int64_t out_channels = 0, kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  int64_t out_h = 0, out_w = 0;  // floor((in + 2 pad - dilation (k - 1) - 1) / stride) + 1

  bool operator==(const Conv2dGeometry&) const = default;
  // Fills out_h/out_w from the rest.
  void compute_output_size();
};

struct Conv2dGeometryHash {
  size_t operator()(const Conv2dGeometry& g) const;
};

// y = conv(x, w) + b (b may be null).
template <typename T> void conv2d_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* b, T* y);
// Gradients of sum(y * gy): gx (from gy and w), gw and gb (from x and gy). A null output is not computed; gb needs
// gw. x may be null when gw is.
template <typename T>
void conv2d_backward(const Conv2dGeometry& g, const T* x, const T* gy, const T* w, T* gx, T* gw, T* gb);

// The two backends, exposed for tests and benchmarks.
bool onednn_conv2d_supported(const Conv2dGeometry& g);
void onednn_conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b, float* y);
void onednn_conv2d_backward(const Conv2dGeometry& g, const float* x, const float* gy, const float* w, float* gx,
                            float* gw, float* gb);

template <typename T> void im2col_conv2d_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* b, T* y);
template <typename T> void im2col_conv2d_backward_data(const Conv2dGeometry& g, const T* gy, const T* w, T* gx);
template <typename T>
void im2col_conv2d_backward_weights(const Conv2dGeometry& g, const T* x, const T* gy, T* gw, T* gb);

}  // namespace tessera::kernels::cpu
