// Pooling loops. Planes are independent, so every kernel runs parallel_for over planes; within a plane the loops
// follow output rows. max_pool2d has a fast path for the common 2x2 / stride 2 / no padding case.
#include "kernels/cpu/pool_2d.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/parallel.h"

namespace tessera::kernels::cpu {

PoolAxis fixed_pool_axis(int64_t n, int64_t out, int64_t k, int64_t s, int64_t p, bool count_include_pad) {
  PoolAxis axis;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t begin = o * s - p;
    const int64_t padded_end = std::min(begin + k, n + p);
    const int64_t lo = std::max<int64_t>(begin, 0), hi = std::min(padded_end, n);
    axis.start.push_back(lo);
    axis.end.push_back(std::max(hi, lo));
    axis.count.push_back(count_include_pad ? padded_end - begin : std::max<int64_t>(hi - lo, 0));
  }
  return axis;
}

PoolAxis adaptive_pool_axis(int64_t n, int64_t out) {
  PoolAxis axis;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t lo = (o * n) / out, hi = ((o + 1) * n + out - 1) / out;
    axis.start.push_back(lo);
    axis.end.push_back(hi);
    axis.count.push_back(hi - lo);
  }
  return axis;
}

namespace {

constexpr int64_t kPlaneGrain = 4;

// The 2x2 stride-2 window of PyTorch's max_pool2d (no padding): a NaN wins, otherwise the first maximum.
template <typename T>
void max_pool_2x2(const PoolPlanes& p, int64_t out_h, int64_t out_w, const T* x, T* y, int32_t* idx) {
  parallel_for(p.planes, kPlaneGrain, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* xp = x + plane * p.in_h * p.in_w;
      T* yp = y + plane * out_h * out_w;
      int32_t* ip = idx + plane * out_h * out_w;
      for (int64_t oh = 0; oh < out_h; ++oh) {
        const T* r0 = xp + 2 * oh * p.in_w;
        const T* r1 = r0 + p.in_w;
        const int32_t base = static_cast<int32_t>(2 * oh * p.in_w);
        for (int64_t ow = 0; ow < out_w; ++ow) {
          const int64_t c = 2 * ow;
          T best = r0[c];
          int32_t at = base + static_cast<int32_t>(c);
          const T candidates[3] = {r0[c + 1], r1[c], r1[c + 1]};
          const int32_t offsets[3] = {1, static_cast<int32_t>(p.in_w), static_cast<int32_t>(p.in_w + 1)};
          if (!std::isnan(best))
            for (int q = 0; q < 3; ++q)
              if (candidates[q] > best || std::isnan(candidates[q])) {
                best = candidates[q];
                at = base + static_cast<int32_t>(c) + offsets[q];
                if (std::isnan(best)) break;
              }
          yp[oh * out_w + ow] = best;
          ip[oh * out_w + ow] = at;
        }
      }
    }
  });
}

bool is_plain_2x2(const PoolPlanes& p, const PoolAxis& h, const PoolAxis& w) {
  for (const PoolAxis* axis : {&h, &w})
    for (int64_t o = 0; o < axis->size(); ++o)
      if (axis->start[o] != 2 * o || axis->end[o] != 2 * o + 2) return false;
  return true;
}

}  // namespace

template <typename T>
void max_pool2d_forward(const PoolPlanes& p, const PoolAxis& h, const PoolAxis& w, const T* x, T* y, int32_t* idx) {
  if (is_plain_2x2(p, h, w)) return max_pool_2x2(p, h.size(), w.size(), x, y, idx);
  const int64_t out_h = h.size(), out_w = w.size();
  parallel_for(p.planes, kPlaneGrain, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* xp = x + plane * p.in_h * p.in_w;
      T* yp = y + plane * out_h * out_w;
      int32_t* ip = idx + plane * out_h * out_w;
      for (int64_t oh = 0; oh < out_h; ++oh)
        for (int64_t ow = 0; ow < out_w; ++ow) {
          T best = -std::numeric_limits<T>::infinity();
          int32_t at = -1;
          for (int64_t ih = h.start[oh]; ih < h.end[oh]; ++ih)
            for (int64_t iw = w.start[ow]; iw < w.end[ow]; ++iw) {
              const T v = xp[ih * p.in_w + iw];
              if (at < 0 || v > best || std::isnan(v)) {
                best = v;
                at = static_cast<int32_t>(ih * p.in_w + iw);
                if (std::isnan(v)) goto done;
              }
            }
        done:
          yp[oh * out_w + ow] = best;
          ip[oh * out_w + ow] = at;
        }
    }
  });
}

template <typename T>
void max_pool2d_backward(const PoolPlanes& p, int64_t out_hw, const T* gy, const int32_t* idx, T* gx) {
  const int64_t in_hw = p.in_h * p.in_w;
  parallel_for(p.planes, kPlaneGrain, [&](int64_t begin, int64_t end) {
    std::fill(gx + begin * in_hw, gx + end * in_hw, T(0));
    for (int64_t plane = begin; plane < end; ++plane) {
      T* gxp = gx + plane * in_hw;
      const T* gyp = gy + plane * out_hw;
      const int32_t* ip = idx + plane * out_hw;
      for (int64_t o = 0; o < out_hw; ++o)
        if (ip[o] >= 0) gxp[ip[o]] += gyp[o];
    }
  });
}

template <typename T>
void avg_pool2d_forward(const PoolPlanes& p, const PoolAxis& h, const PoolAxis& w, const T* x, T* y) {
  const int64_t out_h = h.size(), out_w = w.size();
  parallel_for(p.planes, kPlaneGrain, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* xp = x + plane * p.in_h * p.in_w;
      T* yp = y + plane * out_h * out_w;
      for (int64_t oh = 0; oh < out_h; ++oh)
        for (int64_t ow = 0; ow < out_w; ++ow) {
          T sum = 0;
          for (int64_t ih = h.start[oh]; ih < h.end[oh]; ++ih)
            for (int64_t iw = w.start[ow]; iw < w.end[ow]; ++iw) sum += xp[ih * p.in_w + iw];
          const int64_t divisor = h.count[oh] * w.count[ow];
          yp[oh * out_w + ow] = divisor > 0 ? sum / static_cast<T>(divisor) : T(0);
        }
    }
  });
}

template <typename T>
void avg_pool2d_backward(const PoolPlanes& p, const PoolAxis& h, const PoolAxis& w, const T* gy, T* gx) {
  const int64_t out_h = h.size(), out_w = w.size(), in_hw = p.in_h * p.in_w;
  parallel_for(p.planes, kPlaneGrain, [&](int64_t begin, int64_t end) {
    std::fill(gx + begin * in_hw, gx + end * in_hw, T(0));
    for (int64_t plane = begin; plane < end; ++plane) {
      T* gxp = gx + plane * in_hw;
      const T* gyp = gy + plane * out_h * out_w;
      for (int64_t oh = 0; oh < out_h; ++oh)
        for (int64_t ow = 0; ow < out_w; ++ow) {
          const int64_t divisor = h.count[oh] * w.count[ow];
          if (divisor == 0) continue;
          const T g = gyp[oh * out_w + ow] / static_cast<T>(divisor);
          for (int64_t ih = h.start[oh]; ih < h.end[oh]; ++ih)
            for (int64_t iw = w.start[ow]; iw < w.end[ow]; ++iw) gxp[ih * p.in_w + iw] += g;
        }
    }
  });
}

#define TESSERA_INSTANTIATE_POOL(T)                                                                              \
  template void max_pool2d_forward<T>(const PoolPlanes&, const PoolAxis&, const PoolAxis&, const T*, T*, int32_t*); \
  template void max_pool2d_backward<T>(const PoolPlanes&, int64_t, const T*, const int32_t*, T*);               \
  template void avg_pool2d_forward<T>(const PoolPlanes&, const PoolAxis&, const PoolAxis&, const T*, T*);       \
  template void avg_pool2d_backward<T>(const PoolPlanes&, const PoolAxis&, const PoolAxis&, const T*, T*);
TESSERA_INSTANTIATE_POOL(float)
TESSERA_INSTANTIATE_POOL(double)
#undef TESSERA_INSTANTIATE_POOL

}  // namespace tessera::kernels::cpu
