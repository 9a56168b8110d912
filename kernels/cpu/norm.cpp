// CpuBackend's layer and batch norm entries (loops moved from core/ops/layer_norm.cpp and batch_norm.cpp,
// unchanged). Invariants:
//  - data is contiguous f32/f64 (core computes bf16/f16 in f32); statistics and parameter gradients accumulate in
//    double and live in f64 device buffers, so core never reads them on the host;
//  - layer_norm: x is (rows, d); per row mean and biased variance give xhat = (x - mean) * rstd, y = xhat * weight
//    + bias. Backward, with gxhat = gy * weight: gx = rstd (gxhat - mean(gxhat) - xhat mean(gxhat xhat)),
//    gweight += sum_rows gy xhat, gbias += sum_rows gy. Rows run in parallel for gx; the parameter gradients are
//    summed per column, over rows in index order (columns split over threads), so they do not depend on the thread
//    count or on scheduling (per-chunk partials merged under a lock did, in f64 and in the merge order);
//  - batch_norm: x is (N, C, S); per channel y = x * scale + shift with scale = invstd * weight and shift = bias -
//    mean * scale. Backward (training): gx = w invstd (gy - mean(gy) - xhat mean(gy xhat)); eval: gx = gy w invstd.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/common/dtype_dispatch.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"

namespace tessera::kernels::cpu {

namespace {


// ---- layer norm

int64_t row_grain(int64_t d) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(d, 1)); }

template <typename T>
void layer_norm_forward(int64_t rows, int64_t d, const T* x, const T* w, const T* b, double eps, T* y, double* mean,
                        double* rstd) {
  parallel_for(rows, row_grain(d), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * d;
      double sum = 0;
      for (int64_t j = 0; j < d; ++j) sum += xr[j];
      const double m = sum / static_cast<double>(d);
      double sq = 0;
      for (int64_t j = 0; j < d; ++j) sq += (xr[j] - m) * (xr[j] - m);
      const double rs = 1.0 / std::sqrt(sq / static_cast<double>(d) + eps);
      mean[r] = m;
      rstd[r] = rs;
      const T tm = static_cast<T>(m), ts = static_cast<T>(rs);
      T* yr = y + r * d;
      for (int64_t j = 0; j < d; ++j) {
        const T xhat = (xr[j] - tm) * ts;
        yr[j] = (w ? xhat * w[j] : xhat) + (b ? b[j] : T(0));
      }
    }
  });
}

template <typename T>
void layer_norm_backward_loop(int64_t rows, int64_t d, const T* x, const T* w, const T* gy, const double* mean,
                              const double* rstd, T* gx, double* gw, double* gb) {
  if (gw || gb) {
    // Each column's sums over rows in row order, as one thread would add them: the same bits at any thread count.
    constexpr int64_t kColumns = 256;
    const int64_t blocks = (d + kColumns - 1) / kColumns;
    parallel_for(blocks, std::max<int64_t>(1, 32768 / std::max<int64_t>(rows * kColumns, 1)),
                 [&](int64_t first, int64_t last) {
      for (int64_t block = first; block < last; ++block) {
        const int64_t j0 = block * kColumns, j1 = std::min(d, j0 + kColumns);
        double part_w[kColumns] = {}, part_b[kColumns] = {};
        for (int64_t r = 0; r < rows; ++r) {
          const T* xr = x + r * d;
          const T* gr = gy + r * d;
          const T tm = static_cast<T>(mean[r]), ts = static_cast<T>(rstd[r]);
          for (int64_t j = j0; j < j1; ++j) {
            if (gw) part_w[j - j0] += static_cast<double>(gr[j]) * ((xr[j] - tm) * ts);
            if (gb) part_b[j - j0] += gr[j];
          }
        }
        for (int64_t j = j0; j < j1; ++j) {
          if (gw) gw[j] += part_w[j - j0];
          if (gb) gb[j] += part_b[j - j0];
        }
      }
    });
  }
  if (!gx) return;
  parallel_for(rows, row_grain(d), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * d;
      const T* gr = gy + r * d;
      const T tm = static_cast<T>(mean[r]), ts = static_cast<T>(rstd[r]);
      double a = 0, c = 0;
      for (int64_t j = 0; j < d; ++j) {
        const double g = w ? static_cast<double>(gr[j]) * w[j] : gr[j];
        a += g;
        c += g * ((xr[j] - mean[r]) * rstd[r]);
      }
      const T ta = static_cast<T>(a / static_cast<double>(d)), tc = static_cast<T>(c / static_cast<double>(d));
      T* o = gx + r * d;
      for (int64_t j = 0; j < d; ++j) {
        const T g = w ? gr[j] * w[j] : gr[j];
        o[j] = ts * (g - ta - (xr[j] - tm) * ts * tc);
      }
    }
  });
}

// ---- batch norm: x is contiguous (n, c, s) = (layout.outer, layout.n, layout.inner)

int64_t count_of(const ReduceShape& l) { return l.outer * l.inner; }
// Channels per parallel chunk: ~32K elements each, so small tensors stay on one thread.
int64_t channel_grain(const ReduceShape& l) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(count_of(l), 1)); }

// Visits channel c's values of a contiguous (n, c, s) buffer as contiguous runs of s.
template <typename F> void for_each_run(const ReduceShape& l, int64_t c, F&& f) {
  for (int64_t i = 0; i < l.outer; ++i) f((i * l.n + c) * l.inner);
}

template <typename T> void channel_stats(const ReduceShape& l, const T* x, double* mean, double* var) {
  parallel_for(l.n, channel_grain(l), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double sum = 0;
      for_each_run(l, c, [&](int64_t at) {
        for (int64_t j = 0; j < l.inner; ++j) sum += x[at + j];
      });
      const double m = sum / static_cast<double>(count_of(l));
      double sq = 0;
      for_each_run(l, c, [&](int64_t at) {
        for (int64_t j = 0; j < l.inner; ++j) sq += (x[at + j] - m) * (x[at + j] - m);
      });
      mean[c] = m;
      var[c] = sq;  // sum of squares; the caller divides
    }
  });
}

template <typename T>
void apply_affine(const ReduceShape& l, const T* x, const double* scale, const double* shift, T* y) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(l.inner, 1));
  parallel_for(l.outer * l.n, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t c = r % l.n;
      const T a = static_cast<T>(scale[c]), b = static_cast<T>(shift[c]);
      for (int64_t j = 0; j < l.inner; ++j) y[r * l.inner + j] = x[r * l.inner + j] * a + b;
    }
  });
}

template <typename T>
void batch_norm_backward_loop(const ReduceShape& l, const T* xp, const T* g, T* gx, const double* w, const double* mean,
                              const double* invstd, bool training, double* sum_gy, double* sum_gy_xhat) {
  parallel_for(l.n, channel_grain(l), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double a = 0, b = 0;
      for_each_run(l, c, [&](int64_t at) {
        for (int64_t j = 0; j < l.inner; ++j) {
          a += g[at + j];
          b += g[at + j] * (xp[at + j] - mean[c]);
        }
      });
      sum_gy[c] = a;
      sum_gy_xhat[c] = b * invstd[c];
      if (!gx) continue;
      const double k = (w ? w[c] : 1.0) * invstd[c];
      const double m = static_cast<double>(count_of(l));
      // training: gx = k (gy - a/m - xhat b/m), xhat = (x - mean) invstd; eval: gx = k gy.
      const T gk = static_cast<T>(k);
      const T shift = training ? static_cast<T>(-k * a / m) : T(0);
      const T xk = training ? static_cast<T>(-k * sum_gy_xhat[c] / m * invstd[c]) : T(0);
      const T mc = static_cast<T>(mean[c]);
      for_each_run(l, c, [&](int64_t at) {
        for (int64_t j = 0; j < l.inner; ++j) gx[at + j] = gk * g[at + j] + shift + xk * (xp[at + j] - mc);
      });
    }
  });
}

template <typename T> const T* typed(const void* p) { return static_cast<const T*>(p); }

}  // namespace

void CpuBackend::layer_norm(const void* x, const void* weight, const void* bias, void* y, double* mean, double* rstd,
                            DType dtype, int64_t rows, int64_t d, double eps) {
  dispatch_f32_f64(dtype, "layer_norm", [&]<typename T>() {
    layer_norm_forward<T>(rows, d, host(typed<T>(x)), weight ? host(typed<T>(weight)) : nullptr,
                          bias ? host(typed<T>(bias)) : nullptr, eps, host(static_cast<T*>(y)), host(mean), host(rstd));
  });
}

void CpuBackend::layer_norm_backward(const void* x, const void* weight, const void* gy, const double* mean,
                                     const double* rstd, void* gx, double* gweight, double* gbias, DType dtype,
                                     int64_t rows, int64_t d) {
  dispatch_f32_f64(dtype, "layer_norm backward", [&]<typename T>() {
    layer_norm_backward_loop<T>(rows, d, host(typed<T>(x)), weight ? host(typed<T>(weight)) : nullptr,
                                host(typed<T>(gy)), host(mean), host(rstd), gx ? host(static_cast<T*>(gx)) : nullptr,
                                gweight ? host(gweight) : nullptr, gbias ? host(gbias) : nullptr);
  });
}

void CpuBackend::batch_norm_stats(const void* x, DType dtype, const ReduceShape& layout, double* mean, double* var,
                                  double* unbiased_var) {
  double* m = host(mean);
  double* v = host(var);
  double* u = host(unbiased_var);
  dispatch_f32_f64(dtype, "batch_norm", [&]<typename T>() { channel_stats<T>(layout, host(typed<T>(x)), m, v); });
  const double count = static_cast<double>(count_of(layout));
  for (int64_t c = 0; c < layout.n; ++c) {
    u[c] = v[c] / (count - 1);
    v[c] /= count;
  }
}

void CpuBackend::batch_norm(const void* x, void* y, DType dtype, const ReduceShape& layout, const double* mean,
                            const double* var, const double* weight, const double* bias, double eps,
                            double* invstd) {
  const double* m = host(mean);
  const double* v = host(var);
  const double* w = weight ? host(weight) : nullptr;
  const double* b = bias ? host(bias) : nullptr;
  double* is = host(invstd);
  std::vector<double> scale(layout.n), shift(layout.n);
  for (int64_t c = 0; c < layout.n; ++c) {
    is[c] = 1.0 / std::sqrt(v[c] + eps);
    scale[c] = is[c] * (w ? w[c] : 1.0);
    shift[c] = (b ? b[c] : 0.0) - m[c] * scale[c];
  }
  dispatch_f32_f64(dtype, "batch_norm", [&]<typename T>() {
    apply_affine<T>(layout, host(typed<T>(x)), scale.data(), shift.data(), host(static_cast<T*>(y)));
  });
}

void CpuBackend::batch_norm_backward(const void* x, const void* gy, void* gx, DType dtype, const ReduceShape& layout,
                                     const double* weight, const double* mean, const double* invstd, bool training,
                                     double* sum_gy, double* sum_gy_xhat) {
  dispatch_f32_f64(dtype, "batch_norm backward", [&]<typename T>() {
    batch_norm_backward_loop<T>(layout, host(typed<T>(x)), host(typed<T>(gy)), gx ? host(static_cast<T*>(gx)) : nullptr,
                                weight ? host(weight) : nullptr, host(mean), host(invstd), training, host(sum_gy),
                                host(sum_gy_xhat));
  });
}

}  // namespace tessera::kernels::cpu
