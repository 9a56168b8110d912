// 2-D max and average pooling on the GPU: our own kernels, not cuDNN's, whose max pooling keeps no PyTorch-style
// indices.
//
// Invariants:
//  - The windows are the CPU's (kernels/cpu/pool_2d.cpp: fixed_pool_axis, adaptive_pool_axis), recomputed per
//    output index on the device from the Pool2dGeometry passed by value: no window tables to upload.
//  - Forward kernels run one thread per output element and walk the window in the CPU's order, so values and
//    indices (first on ties, NaN wins, -inf / -1 for an empty window) match the CPU exactly.
//  - Backward kernels are gathers, one thread per input element, that visit the outputs whose windows cover it in
//    the CPU's scatter order (output rows, then columns). So there are no atomics, results are deterministic, and
//    each sum rounds in the same order as the CPU's. Every gx element is written, which is the "gx = 0 first".
//  - The covering range of outputs is computed as a superset and each candidate is checked against its exact
//    window, so window arithmetic (padding, adaptive rounding) has one definition: window().
//  - f32 and f64, as the CPU, and bf16 and f16, which core sends the CPU through f32 (Backend::conv_pool_takes):
//    every value is read into acc_t<T> (f32 for them) and the result rounded once, so the results are bitwise what
//    the f32 route gives (max pooling only compares, and a gather sums in f32 in the same order), without its two
//    conversion kernels around each pooling and each gradient.
#include <cuda_runtime.h>

#include <limits>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace tessera::kernels::cuda {

namespace {

// One output index's window along one axis: input [lo, hi) and its averaging divisor factor.
struct Window {
  int64_t lo, hi, count;
};

struct Axis {
  int64_t in, out, kernel, stride, pad;
};

__device__ __forceinline__ Axis axis_h(const Pool2dGeometry& g) {
  return {g.in_h, g.out_h, g.kernel_h, g.stride_h, g.pad_h};
}
__device__ __forceinline__ Axis axis_w(const Pool2dGeometry& g) {
  return {g.in_w, g.out_w, g.kernel_w, g.stride_w, g.pad_w};
}

// kernels/cpu/pool_2d.cpp's fixed_pool_axis and adaptive_pool_axis for output index o.
__device__ __forceinline__ Window window(const Pool2dGeometry& g, const Axis& a, int64_t o) {
  if (g.adaptive) {
    const int64_t lo = (o * a.in) / a.out, hi = ((o + 1) * a.in + a.out - 1) / a.out;
    return {lo, hi, hi - lo};
  }
  const int64_t begin = o * a.stride - a.pad;
  const int64_t padded_end = min(begin + a.kernel, a.in + a.pad);
  const int64_t lo = max(begin, int64_t{0}), hi = min(padded_end, a.in);
  return {lo, max(hi, lo), g.count_include_pad ? padded_end - begin : max(hi - lo, int64_t{0})};
}

// Output indices [first, last] whose windows may contain input index i: a superset, checked with window().
struct Cover {
  int64_t first, last;
};

__device__ __forceinline__ Cover cover(const Pool2dGeometry& g, const Axis& a, int64_t i) {
  int64_t first, last;
  if (g.adaptive) {  // windows [floor(o in / out), ceil((o + 1) in / out)); one extra on each side for rounding
    first = (i * a.out) / a.in - 1;
    last = ((i + 1) * a.out + a.in - 1) / a.in;
  } else {  // o stride - pad <= i < o stride - pad + kernel
    const int64_t lowest = i + a.pad - a.kernel + 1;
    first = lowest <= 0 ? 0 : (lowest + a.stride - 1) / a.stride;
    last = (i + a.pad) / a.stride;
  }
  return {max(first, int64_t{0}), min(last, a.out - 1)};
}

template <typename T>
__global__ void max_pool_forward_kernel(Pool2dGeometry g, const T* x, T* y, int32_t* indices) {
  const Axis ah = axis_h(g), aw = axis_w(g);
  TESSERA_GRID_STRIDE_LOOP(o, g.planes * g.out_h * g.out_w) {
    const int64_t ow = o % g.out_w, oh = (o / g.out_w) % g.out_h, plane = o / (g.out_w * g.out_h);
    const T* xp = x + plane * g.in_h * g.in_w;
    const Window wh = window(g, ah, oh), ww = window(g, aw, ow);
    acc_t<T> best = -std::numeric_limits<acc_t<T>>::infinity();
    int32_t at = -1;
    for (int64_t ih = wh.lo; ih < wh.hi; ++ih)
      for (int64_t iw = ww.lo; iw < ww.hi; ++iw) {
        const int32_t i = static_cast<int32_t>(ih * g.in_w + iw);
        const acc_t<T> v = static_cast<acc_t<T>>(xp[i]);
        if (at < 0 || v > best || v != v) {  // the first candidate, a larger value, or a NaN
          best = v;
          at = i;
        }
      }
    y[o] = static_cast<T>(best);
    indices[o] = at;
  }
}

// gx[i] = sum of gy[o] over the outputs o whose index is i, in output order (the CPU's += order).
template <typename T>
__global__ void max_pool_backward_kernel(Pool2dGeometry g, const T* gy, const int32_t* indices, T* gx) {
  const Axis ah = axis_h(g), aw = axis_w(g);
  TESSERA_GRID_STRIDE_LOOP(e, g.planes * g.in_h * g.in_w) {
    const int64_t iw = e % g.in_w, ih = (e / g.in_w) % g.in_h, plane = e / (g.in_w * g.in_h);
    const int32_t target = static_cast<int32_t>(ih * g.in_w + iw);
    const int64_t out_base = plane * g.out_h * g.out_w;
    const Cover ch = cover(g, ah, ih), cw = cover(g, aw, iw);
    acc_t<T> sum = 0;
    for (int64_t oh = ch.first; oh <= ch.last; ++oh)
      for (int64_t ow = cw.first; ow <= cw.last; ++ow) {
        const int64_t o = out_base + oh * g.out_w + ow;
        if (indices[o] == target) sum += static_cast<acc_t<T>>(gy[o]);
      }
    gx[e] = static_cast<T>(sum);
  }
}

template <typename T>
__global__ void avg_pool_forward_kernel(Pool2dGeometry g, const T* x, T* y) {
  const Axis ah = axis_h(g), aw = axis_w(g);
  TESSERA_GRID_STRIDE_LOOP(o, g.planes * g.out_h * g.out_w) {
    const int64_t ow = o % g.out_w, oh = (o / g.out_w) % g.out_h, plane = o / (g.out_w * g.out_h);
    const T* xp = x + plane * g.in_h * g.in_w;
    const Window wh = window(g, ah, oh), ww = window(g, aw, ow);
    acc_t<T> sum = 0;
    for (int64_t ih = wh.lo; ih < wh.hi; ++ih)
      for (int64_t iw = ww.lo; iw < ww.hi; ++iw) sum += static_cast<acc_t<T>>(xp[ih * g.in_w + iw]);
    const int64_t divisor = wh.count * ww.count;
    y[o] = static_cast<T>(divisor > 0 ? sum / static_cast<acc_t<T>>(divisor) : acc_t<T>(0));
  }
}

// gx[i] = sum of gy[o] / divisor(o) over the outputs o whose windows contain i, in output order.
template <typename T>
__global__ void avg_pool_backward_kernel(Pool2dGeometry g, const T* gy, T* gx) {
  const Axis ah = axis_h(g), aw = axis_w(g);
  TESSERA_GRID_STRIDE_LOOP(e, g.planes * g.in_h * g.in_w) {
    const int64_t iw = e % g.in_w, ih = (e / g.in_w) % g.in_h, plane = e / (g.in_w * g.in_h);
    const T* gyp = gy + plane * g.out_h * g.out_w;
    const Cover ch = cover(g, ah, ih), cw = cover(g, aw, iw);
    acc_t<T> sum = 0;
    for (int64_t oh = ch.first; oh <= ch.last; ++oh) {
      const Window wh = window(g, ah, oh);
      if (ih < wh.lo || ih >= wh.hi) continue;
      for (int64_t ow = cw.first; ow <= cw.last; ++ow) {
        const Window ww = window(g, aw, ow);
        const int64_t divisor = wh.count * ww.count;
        if (iw < ww.lo || iw >= ww.hi || divisor == 0) continue;
        sum += static_cast<acc_t<T>>(gyp[oh * g.out_w + ow]) / static_cast<acc_t<T>>(divisor);
      }
    }
    gx[e] = static_cast<T>(sum);
  }
}

int64_t input_count(const Pool2dGeometry& g) { return g.planes * g.in_h * g.in_w; }
int64_t output_count(const Pool2dGeometry& g) { return g.planes * g.out_h * g.out_w; }

void check_plane_size(const Pool2dGeometry& g, const char* op) {
  TESSERA_CHECK(g.in_h * g.in_w <= std::numeric_limits<int32_t>::max(), op, ": a plane of ", g.in_h, " x ", g.in_w,
                " elements has positions beyond the i32 indices");
}

}  // namespace

void CudaBackend::max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, void* indices) {
  check_plane_size(g, "max_pool2d");
  const int64_t n = output_count(g);
  dispatch_floating(dtype, "max_pool2d", [&]<typename T>() {
    if (n == 0) return;
    max_pool_forward_kernel<T><<<grid_for(n), kBlockSize, 0, stream()>>>(
        g, static_cast<const T*>(x), static_cast<T*>(y), static_cast<int32_t*>(indices));
    TESSERA_CUDA_CHECK_LAUNCH("max_pool_forward_kernel");
  });
}

void CudaBackend::max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, const void* indices,
                                      void* gx) {
  check_plane_size(g, "max_pool2d backward");
  const int64_t n = input_count(g);
  dispatch_floating(dtype, "max_pool2d backward", [&]<typename T>() {
    if (n == 0) return;
    max_pool_backward_kernel<T><<<grid_for(n), kBlockSize, 0, stream()>>>(
        g, static_cast<const T*>(gy), static_cast<const int32_t*>(indices), static_cast<T*>(gx));
    TESSERA_CUDA_CHECK_LAUNCH("max_pool_backward_kernel");
  });
}

void CudaBackend::avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y) {
  const int64_t n = output_count(g);
  dispatch_floating(dtype, "avg_pool2d", [&]<typename T>() {
    if (n == 0) return;
    avg_pool_forward_kernel<T><<<grid_for(n), kBlockSize, 0, stream()>>>(g, static_cast<const T*>(x),
                                                                         static_cast<T*>(y));
    TESSERA_CUDA_CHECK_LAUNCH("avg_pool_forward_kernel");
  });
}

void CudaBackend::avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, void* gx) {
  const int64_t n = input_count(g);
  dispatch_floating(dtype, "avg_pool2d backward", [&]<typename T>() {
    if (n == 0) return;
    avg_pool_backward_kernel<T><<<grid_for(n), kBlockSize, 0, stream()>>>(g, static_cast<const T*>(gy),
                                                                          static_cast<T*>(gx));
    TESSERA_CUDA_CHECK_LAUNCH("avg_pool_backward_kernel");
  });
}

}  // namespace tessera::kernels::cuda
