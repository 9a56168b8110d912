#pragma once
// The geometry of the convolution and pooling entries: plain sizes, no pointers, fixed-size and C++17, so a CUDA
// kernel can take it by value and a backend can key cached plans (oneDNN primitives, cuDNN descriptors) on it.
// Buffers are contiguous NCHW, as PyTorch's: conv x (N, C, H, W), w (OC, C/groups, KH, KW), y (N, OC, OH, OW);
// pooling works on (planes, H, W) with planes = N * C.
#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace tessera::kernels {

struct Conv2dGeometry {
  int64_t batch = 0, in_channels = 0, in_h = 0, in_w = 0;
  int64_t out_channels = 0, kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  int64_t out_h = 0, out_w = 0;  // floor((in + 2 pad - dilation (k - 1) - 1) / stride) + 1

  // Fills out_h/out_w from the rest.
  void compute_output_size() {
    out_h = (in_h + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1;
    out_w = (in_w + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1;
  }
};

inline bool operator==(const Conv2dGeometry& a, const Conv2dGeometry& b) {
  return a.batch == b.batch && a.in_channels == b.in_channels && a.in_h == b.in_h && a.in_w == b.in_w &&
         a.out_channels == b.out_channels && a.kernel_h == b.kernel_h && a.kernel_w == b.kernel_w &&
         a.stride_h == b.stride_h && a.stride_w == b.stride_w && a.pad_h == b.pad_h && a.pad_w == b.pad_w &&
         a.dilation_h == b.dilation_h && a.dilation_w == b.dilation_w && a.groups == b.groups && a.out_h == b.out_h &&
         a.out_w == b.out_w;
}

// A hash of every field, for plan caches keyed on the geometry (oneDNN primitives, cuDNN descriptors).
struct Conv2dGeometryHash {
  size_t operator()(const Conv2dGeometry& g) const {
    size_t h = 0;
    for (int64_t v : {g.batch, g.in_channels, g.in_h, g.in_w, g.out_channels, g.kernel_h, g.kernel_w, g.stride_h,
                      g.stride_w, g.pad_h, g.pad_w, g.dilation_h, g.dilation_w, g.groups, g.out_h, g.out_w})
      h = h * 1000003u ^ static_cast<size_t>(v);
    return h;
  }
};

// Pooling windows are separable and follow from these numbers. Fixed windows (max_pool2d, avg_pool2d): output o
// covers input [o stride - pad, o stride - pad + kernel) clipped to the input; the average divides by the window's
// positions inside input + padding (count_include_pad) or inside the input only. Adaptive windows
// (adaptive_avg_pool2d; kernel, stride, pad unused): [floor(o in / out), ceil((o + 1) in / out)).
struct Pool2dGeometry {
  int64_t planes = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool count_include_pad = true;
  bool adaptive = false;
};

}  // namespace tessera::kernels
