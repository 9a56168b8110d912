#pragma once
// 2-D pooling on raw contiguous (planes, H, W) buffers, planes = N * C. Knows nothing of Tensor or autograd.
//
// Windows are separable: along each axis, output index o covers input [start[o], end[o]) (already clipped to
// the input) and contributes `count[o]` to the averaging divisor. The front end builds them for max_pool2d,
// avg_pool2d (count_include_pad or not) and adaptive_avg_pool2d, so the kernels stay op-agnostic.
#include <cstdint>
#include <vector>

namespace tessera::kernels::cpu {

struct PoolAxis {
  std::vector<int64_t> start, end;  // input range of each output index, clipped to [0, input size)
  std::vector<int64_t> count;       // divisor factor of each output index (average pooling)
  int64_t size() const { return static_cast<int64_t>(start.size()); }
};

// Fixed windows: kernel k, stride s, padding p over an input of n, `out` outputs. count_include_pad counts the
// window positions inside input + padding (PyTorch's avg_pool2d), otherwise only the ones inside the input.
PoolAxis fixed_pool_axis(int64_t n, int64_t out, int64_t k, int64_t s, int64_t p, bool count_include_pad);
// adaptive_avg_pool2d's windows: [floor(o n / out), ceil((o + 1) n / out)).
PoolAxis adaptive_pool_axis(int64_t n, int64_t out);

struct PoolPlanes {
  int64_t planes, in_h, in_w;
};

// y = max over each window, idx = flat index (h * W + w) of the maximum within its plane (first one on ties; a NaN
// wins, the last NaN if several, as PyTorch). An empty window gives -inf and index -1.
template <typename T>
void max_pool2d_forward(const PoolPlanes& p, const PoolAxis& h, const PoolAxis& w, const T* x, T* y, int32_t* idx);
// gx = 0, then gx[idx] += gy.
template <typename T>
void max_pool2d_backward(const PoolPlanes& p, const PoolAxis& h, const PoolAxis& w, const T* gy, const int32_t* idx,
                         T* gx);

// y = sum over each window / (count_h * count_w).
template <typename T> void avg_pool2d_forward(const PoolPlanes& p, const PoolAxis& h, const PoolAxis& w, const T* x, T* y);
template <typename T>
void avg_pool2d_backward(const PoolPlanes& p, const PoolAxis& h, const PoolAxis& w, const T* gy, T* gx);

}  // namespace tessera::kernels::cpu
