#pragma once
// 2-D convolution on raw NCHW buffers (PyTorch's layout): x (N, C, H, W), w (OC, C/groups, KH, KW), y (N, OC, OH, OW),
// all contiguous. Knows nothing of Tensor or autograd.
//
// conv2d_* pick the backend: f32 goes to oneDNN (primitives cached per geometry) when it can express the geometry,
// everything else to im2col + BLAS GEMM; bf16 to oneDNN's bf16 kernels on CPUs with bf16 units, else through f32.
// Backward functions overwrite their outputs (they do not accumulate).
// CpuBackend's conv2d entries (conv_2d.cpp) call these with host addresses.
#include <cstddef>
#include <cstdint>

#include "kernels/conv_pool_args.h"

namespace tessera::kernels::cpu {

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

// bf16 buffers, f32 accumulation, each result rounded once: oneDNN's bf16 kernels where the CPU has bf16 units and
// oneDNN takes the geometry, else through f32 copies of the buffers (the f32 functions above).
void conv2d_forward_bf16(const Conv2dGeometry& g, const void* x, const void* w, const void* b, void* y);
void conv2d_backward_bf16(const Conv2dGeometry& g, const void* x, const void* gy, const void* w, void* gx, void* gw,
                          void* gb);
// oneDNN's bf16 convolution alone: false, having done nothing, where it has no fast kernel (no bf16 units, a
// geometry it refuses).
bool onednn_conv2d_forward_bf16(const Conv2dGeometry& g, const void* x, const void* w, const void* b, void* y);
bool onednn_conv2d_backward_bf16(const Conv2dGeometry& g, const void* x, const void* gy, const void* w, void* gx,
                                 void* gw, void* gb);

template <typename T> void im2col_conv2d_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* b, T* y);
template <typename T> void im2col_conv2d_backward_data(const Conv2dGeometry& g, const T* gy, const T* w, T* gx);
template <typename T>
void im2col_conv2d_backward_weights(const Conv2dGeometry& g, const T* x, const T* gy, T* gw, T* gb);

}  // namespace tessera::kernels::cpu
