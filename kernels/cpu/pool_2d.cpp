// Pooling loops. Planes are independent, so every kernel runs parallel_for over planes; within a plane the loops
// follow output rows. max_pool2d has a fast path for the common 2x2 / stride 2 / no padding case. CpuBackend's
// pooling entries (at the end) build the windows from the geometry and call the loops with host addresses.
#include "kernels/cpu/pool_2d.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif

#include "kernels/common/check.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/widened.h"

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

// Planes per parallel chunk: enough work (~32K input elements) that a thread hand-off pays for itself.
int64_t plane_grain(const PoolPlanes& p) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(p.in_h * p.in_w, 1)); }

// Float selects done on the bits: under the default -ftrapping-math GCC keeps `c ? float : float` as a branch,
// and on random data the argmax position is unpredictable, so a mispredicted branch per candidate costs more
// than the compares (it was 20% of the benchmark CNN's step).
template <typename T> inline T select_bits(bool take, T yes, T no) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const Bits mask = Bits(0) - static_cast<Bits>(take);
  return std::bit_cast<T>((std::bit_cast<Bits>(yes) & mask) | (std::bit_cast<Bits>(no) & ~mask));
}

// One candidate of a max window, PyTorch's rule: a larger value or a NaN replaces the current best (both compares
// evaluated: `|`, not `||`).
template <typename T> inline void take_max(T v, int32_t i, T& best, int32_t& at) {
  const bool take = (v > best) | (v != v);
  best = select_bits(take, v, best);
  at = take ? i : at;
}

#if defined(__SSE4_1__)
// The 2x2 window for 4 outputs of one row at once (f32, SSE4.1, which every x86-64-v2 and later CPU has): columns
// c .. c + 7 of input rows r0 and r1. Rows of 4 or more windows are covered by such groups, the last one moved back
// to end at the row's end (recomputing a few windows: the same values). Candidates in PyTorch's order, as take_max:
// r0[c], r0[c + 1], r1[c], r1[c + 1].
constexpr int64_t kPoolLanes = 4;

inline void evens_odds(const float* p, __m128& even, __m128& odd) {
  const __m128 lo = _mm_loadu_ps(p), hi = _mm_loadu_ps(p + 4);
  even = _mm_shuffle_ps(lo, hi, 0x88);  // lo0 lo2 hi0 hi2
  odd = _mm_shuffle_ps(lo, hi, 0xDD);   // lo1 lo3 hi1 hi3
}

inline __m128i window_columns(int32_t first) {  // the windows' top-left input indices
  return _mm_add_epi32(_mm_set1_epi32(first), _mm_setr_epi32(0, 2, 4, 6));
}

inline void max_pool_2x2_x4(const float* r0, const float* r1, int32_t i0, int32_t in_w, float* y, int32_t* idx) {
  __m128 a, b, c, d;
  evens_odds(r0, a, b);
  evens_odds(r1, c, d);
  __m128 best = a;
  __m128i which = _mm_setzero_si128();  // 0..3: the candidate taken
  auto take = [&](__m128 v, int k) {
    const __m128 m = _mm_or_ps(_mm_cmpgt_ps(v, best), _mm_cmpunord_ps(v, v));
    best = _mm_blendv_ps(best, v, m);
    which = _mm_blendv_epi8(which, _mm_set1_epi32(k), _mm_castps_si128(m));
  };
  take(b, 1);
  take(c, 2);
  take(d, 3);
  const __m128i column = _mm_and_si128(which, _mm_set1_epi32(1));
  const __m128i row = _mm_and_si128(_mm_cmpgt_epi32(which, _mm_set1_epi32(1)), _mm_set1_epi32(in_w));
  _mm_storeu_ps(y, best);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(idx), _mm_add_epi32(window_columns(i0), _mm_add_epi32(column, row)));
}

// Backward of 4 windows: each of their 16 inputs gets its window's gradient or zero.
inline void max_pool_2x2_backward_x4(const float* gy, const int32_t* idx, int32_t i0, int32_t in_w, float* r0,
                                     float* r1) {
  const __m128 g = _mm_loadu_ps(gy);
  const __m128i at = _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx)), first = window_columns(i0);
  auto gradient_where = [&](int32_t offset) {
    return _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(at, _mm_add_epi32(first, _mm_set1_epi32(offset)))));
  };
  auto store_interleaved = [](float* p, __m128 even, __m128 odd) {
    _mm_storeu_ps(p, _mm_unpacklo_ps(even, odd));
    _mm_storeu_ps(p + 4, _mm_unpackhi_ps(even, odd));
  };
  store_interleaved(r0, gradient_where(0), gradient_where(1));
  store_interleaved(r1, gradient_where(in_w), gradient_where(in_w + 1));
}
#endif

// Calls group(ow) for groups of kPoolLanes windows covering a row of out_w (the last moved back to the row's end)
// and returns how many windows they covered: all of them, or none in a row narrower than a group.
template <typename Group>
int64_t vector_groups(int64_t out_w, Group group) {
#if defined(__SSE4_1__)
  if (out_w < kPoolLanes) return 0;
  for (int64_t ow = 0; ow < out_w; ow += kPoolLanes) group(std::min(ow, out_w - kPoolLanes));
  return out_w;
#else
  (void)group;
  return 0;
#endif
}

// One output row of the 2x2 stride-2 window without padding (the common CNN pool): input rows r0 and r1 (r0 starts
// at plane index i0, r1 at i0 + in_w).
template <typename T>
void max_pool_2x2_row(const T* r0, const T* r1, int32_t i0, int64_t in_w, int64_t out_w, T* y, int32_t* idx) {
  const int32_t i1 = i0 + static_cast<int32_t>(in_w);
  int64_t ow = 0;
  if constexpr (std::is_same_v<T, float>) {
    ow = vector_groups(out_w, [&](int64_t w) {
      max_pool_2x2_x4(r0 + 2 * w, r1 + 2 * w, i0 + static_cast<int32_t>(2 * w), static_cast<int32_t>(in_w), y + w,
                      idx + w);
    });
  }
  for (; ow < out_w; ++ow) {
    const int32_t c = static_cast<int32_t>(2 * ow);
    T best = r0[c];
    int32_t at = i0 + c;
    take_max(r0[c + 1], i0 + c + 1, best, at);
    take_max(r1[c], i1 + c, best, at);
    take_max(r1[c + 1], i1 + c + 1, best, at);
    y[ow] = best;
    idx[ow] = at;
  }
}

// Backward of one row: every input element belongs to at most one window, so each is written exactly once (the
// gradient or zero) instead of zero-filling the plane and scattering. Columns past the last window get zero.
template <typename T>
void max_pool_2x2_backward_row(const T* gy, const int32_t* idx, int32_t i0, int64_t in_w, int64_t out_w, T* r0,
                               T* r1) {
  const int32_t i1 = i0 + static_cast<int32_t>(in_w);
  int64_t ow = 0;
  if constexpr (std::is_same_v<T, float>) {
    ow = vector_groups(out_w, [&](int64_t w) {
      max_pool_2x2_backward_x4(gy + w, idx + w, i0 + static_cast<int32_t>(2 * w), static_cast<int32_t>(in_w),
                               r0 + 2 * w, r1 + 2 * w);
    });
  }
  for (; ow < out_w; ++ow) {
    const int32_t c = static_cast<int32_t>(2 * ow), at = idx[ow];
    const T g = gy[ow];
    r0[c] = select_bits(at == i0 + c, g, T(0));
    r0[c + 1] = select_bits(at == i0 + c + 1, g, T(0));
    r1[c] = select_bits(at == i1 + c, g, T(0));
    r1[c + 1] = select_bits(at == i1 + c + 1, g, T(0));
  }
  for (int64_t w = 2 * out_w; w < in_w; ++w) r0[w] = r1[w] = T(0);
}

// bf16 rows go through the f32 row kernels on f32 copies of the rows (widened.h's loops; small, they stay in L1).
struct Bf16Rows {
  std::vector<float> in0, in1, out;
  explicit Bf16Rows(int64_t in_w, int64_t out_w) : in0(in_w), in1(in_w), out(out_w) {}
};

template <typename T>
void max_pool_2x2(const PoolPlanes& p, int64_t out_h, int64_t out_w, const T* x, T* y, int32_t* idx) {
  parallel_for(p.planes, plane_grain(p), [&](int64_t begin, int64_t end) {
    [[maybe_unused]] std::optional<Bf16Rows> rows;
    if constexpr (std::is_same_v<T, bf16>) rows.emplace(p.in_w, out_w);
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* xp = x + plane * p.in_h * p.in_w;
      for (int64_t oh = 0; oh < out_h; ++oh) {
        const T* r0 = xp + 2 * oh * p.in_w;
        const int32_t i0 = static_cast<int32_t>(2 * oh * p.in_w);
        T* yr = y + (plane * out_h + oh) * out_w;
        int32_t* ir = idx + (plane * out_h + oh) * out_w;
        if constexpr (std::is_same_v<T, bf16>) {
          widen(r0, rows->in0.data(), p.in_w);
          widen(r0 + p.in_w, rows->in1.data(), p.in_w);
          max_pool_2x2_row(rows->in0.data(), rows->in1.data(), i0, p.in_w, out_w, rows->out.data(), ir);
          narrow(rows->out.data(), yr, out_w);
        } else {
          max_pool_2x2_row(r0, r0 + p.in_w, i0, p.in_w, out_w, yr, ir);
        }
      }
    }
  });
}

template <typename T>
void max_pool_2x2_backward(const PoolPlanes& p, int64_t out_h, int64_t out_w, const T* gy, const int32_t* idx, T* gx) {
  parallel_for(p.planes, plane_grain(p), [&](int64_t begin, int64_t end) {
    [[maybe_unused]] std::optional<Bf16Rows> rows;
    if constexpr (std::is_same_v<T, bf16>) rows.emplace(p.in_w, out_w);
    for (int64_t plane = begin; plane < end; ++plane) {
      T* gxp = gx + plane * p.in_h * p.in_w;
      for (int64_t oh = 0; oh < out_h; ++oh) {
        T* r0 = gxp + 2 * oh * p.in_w;
        const int32_t i0 = static_cast<int32_t>(2 * oh * p.in_w);
        const T* gr = gy + (plane * out_h + oh) * out_w;
        const int32_t* ir = idx + (plane * out_h + oh) * out_w;
        if constexpr (std::is_same_v<T, bf16>) {
          widen(gr, rows->out.data(), out_w);
          max_pool_2x2_backward_row(rows->out.data(), ir, i0, p.in_w, out_w, rows->in0.data(), rows->in1.data());
          narrow(rows->in0.data(), r0, p.in_w);
          narrow(rows->in1.data(), r0 + p.in_w, p.in_w);
        } else {
          max_pool_2x2_backward_row(gr, ir, i0, p.in_w, out_w, r0, r0 + p.in_w);
        }
      }
      std::fill(gxp + 2 * out_h * p.in_w, gxp + p.in_h * p.in_w, T(0));
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
  parallel_for(p.planes, plane_grain(p), [&](int64_t begin, int64_t end) {
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
              const int32_t i = static_cast<int32_t>(ih * p.in_w + iw);
              if (at < 0) {
                best = xp[i];
                at = i;
              } else {
                take_max(xp[i], i, best, at);
              }
            }
          yp[oh * out_w + ow] = best;
          ip[oh * out_w + ow] = at;
        }
    }
  });
}

template <typename T>
void max_pool2d_backward(const PoolPlanes& p, const PoolAxis& h, const PoolAxis& w, const T* gy, const int32_t* idx,
                         T* gx) {
  if (is_plain_2x2(p, h, w)) return max_pool_2x2_backward(p, h.size(), w.size(), gy, idx, gx);
  const int64_t in_hw = p.in_h * p.in_w, out_hw = h.size() * w.size();
  parallel_for(p.planes, plane_grain(p), [&](int64_t begin, int64_t end) {
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
  parallel_for(p.planes, plane_grain(p), [&](int64_t begin, int64_t end) {
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
  parallel_for(p.planes, plane_grain(p), [&](int64_t begin, int64_t end) {
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
  template void max_pool2d_backward<T>(const PoolPlanes&, const PoolAxis&, const PoolAxis&, const T*, const int32_t*, T*);               \
  template void avg_pool2d_forward<T>(const PoolPlanes&, const PoolAxis&, const PoolAxis&, const T*, T*);       \
  template void avg_pool2d_backward<T>(const PoolPlanes&, const PoolAxis&, const PoolAxis&, const T*, T*);
TESSERA_INSTANTIATE_POOL(float)
TESSERA_INSTANTIATE_POOL(double)
#undef TESSERA_INSTANTIATE_POOL

namespace {

struct Windows {
  PoolPlanes planes;
  PoolAxis h, w;
};

Windows windows_of(const Pool2dGeometry& g) {
  if (g.adaptive)
    return {{g.planes, g.in_h, g.in_w}, adaptive_pool_axis(g.in_h, g.out_h), adaptive_pool_axis(g.in_w, g.out_w)};
  return {{g.planes, g.in_h, g.in_w},
          fixed_pool_axis(g.in_h, g.out_h, g.kernel_h, g.stride_h, g.pad_h, g.count_include_pad),
          fixed_pool_axis(g.in_w, g.out_w, g.kernel_w, g.stride_w, g.pad_w, g.count_include_pad)};
}

// The loops exist for f32 and f64. bf16 comes here where the CPU convolves bf16 natively (conv_pool_takes): the 2x2
// max pool row by row through f32 rows (Bf16Rows), other pools through f32 copies of the whole buffers (widened.h);
// either way the numbers core's f32 route would give. f16 is pooled in f32 by core.
template <typename F> void dispatch_pool(DType dtype, const char* op, F&& f) {
  if (dtype == DType::f32) return f.template operator()<float>();
  if (dtype == DType::f64) return f.template operator()<double>();
  TESSERA_THROW(op, ": expected f32 or f64 buffers, got ", dtype_name(dtype));
}

int64_t input_count(const Pool2dGeometry& g) { return g.planes * g.in_h * g.in_w; }
int64_t output_count(const Pool2dGeometry& g) { return g.planes * g.out_h * g.out_w; }

}  // namespace

void CpuBackend::max_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y, void* indices) {
  // The saved argmax positions are i32 within a plane (as the CUDA backend's, which checks the same).
  TESSERA_CHECK(g.in_h * g.in_w <= std::numeric_limits<int32_t>::max(), "max_pool2d: a plane of ", g.in_h, " x ",
                g.in_w, " elements has positions beyond the i32 indices");
  const Windows win = windows_of(g);
  if (dtype == DType::bf16) {
    if (is_plain_2x2(win.planes, win.h, win.w))
      return max_pool_2x2(win.planes, win.h.size(), win.w.size(), host(static_cast<const bf16*>(x)),
                          host(static_cast<bf16*>(y)), host(static_cast<int32_t*>(indices)));
    Widened f32;
    cpu::max_pool2d_forward<float>(win.planes, win.h, win.w, f32.in(host(x), input_count(g)),
                                   f32.out(host(y), output_count(g)), host(static_cast<int32_t*>(indices)));
    return f32.finish();
  }
  dispatch_pool(dtype, "max_pool2d", [&]<typename T>() {
    cpu::max_pool2d_forward<T>(win.planes, win.h, win.w, host(static_cast<const T*>(x)), host(static_cast<T*>(y)),
                               host(static_cast<int32_t*>(indices)));
  });
}

void CpuBackend::max_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, const void* indices,
                                     void* gx) {
  const Windows win = windows_of(g);
  if (dtype == DType::bf16) {
    if (is_plain_2x2(win.planes, win.h, win.w))
      return max_pool_2x2_backward(win.planes, win.h.size(), win.w.size(), host(static_cast<const bf16*>(gy)),
                                   host(static_cast<const int32_t*>(indices)), host(static_cast<bf16*>(gx)));
    Widened f32;
    cpu::max_pool2d_backward<float>(win.planes, win.h, win.w, f32.in(host(gy), output_count(g)),
                                    host(static_cast<const int32_t*>(indices)), f32.out(host(gx), input_count(g)));
    return f32.finish();
  }
  dispatch_pool(dtype, "max_pool2d backward", [&]<typename T>() {
    cpu::max_pool2d_backward<T>(win.planes, win.h, win.w, host(static_cast<const T*>(gy)),
                                host(static_cast<const int32_t*>(indices)), host(static_cast<T*>(gx)));
  });
}

void CpuBackend::avg_pool2d_forward(DType dtype, const Pool2dGeometry& g, const void* x, void* y) {
  const Windows win = windows_of(g);
  if (dtype == DType::bf16) {
    Widened f32;
    cpu::avg_pool2d_forward<float>(win.planes, win.h, win.w, f32.in(host(x), input_count(g)),
                                   f32.out(host(y), output_count(g)));
    return f32.finish();
  }
  dispatch_pool(dtype, "avg_pool2d", [&]<typename T>() {
    cpu::avg_pool2d_forward<T>(win.planes, win.h, win.w, host(static_cast<const T*>(x)), host(static_cast<T*>(y)));
  });
}

void CpuBackend::avg_pool2d_backward(DType dtype, const Pool2dGeometry& g, const void* gy, void* gx) {
  const Windows win = windows_of(g);
  if (dtype == DType::bf16) {
    Widened f32;
    cpu::avg_pool2d_backward<float>(win.planes, win.h, win.w, f32.in(host(gy), output_count(g)),
                                    f32.out(host(gx), input_count(g)));
    return f32.finish();
  }
  dispatch_pool(dtype, "avg_pool2d backward", [&]<typename T>() {
    cpu::avg_pool2d_backward<T>(win.planes, win.h, win.w, host(static_cast<const T*>(gy)), host(static_cast<T*>(gx)));
  });
}

}  // namespace tessera::kernels::cpu
