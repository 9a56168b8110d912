// CpuBackend reductions over (outer, n, inner) blocks. Invariants:
//  - sums accumulate in f64 (u64 for integers, which wrap as PyTorch's) in index order, one accumulator per output,
//    so f32 sums agree with PyTorch's cascade sums to ~1e-7 and the result does not depend on the thread count;
//  - inner == 1 walks rows; inner > 1 walks columns in blocks of neighbouring outputs so reads stay contiguous;
//  - max/min: NaN wins (with the index of the first NaN), ties keep the first index, as PyTorch on CPU.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"

namespace tessera::kernels::cpu {

namespace {

constexpr int64_t kColumns = 256;

template <typename T>
void sum_rows(const T* in, T* out, int64_t rows, int64_t row_len) {
  parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(row_len, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* p = in + r * row_len;
      sum_acc_t<T> acc = 0;
      for (int64_t i = 0; i < row_len; ++i) acc += static_cast<sum_acc_t<T>>(static_cast<acc_t<T>>(p[i]));
      out[r] = static_cast<T>(static_cast<acc_t<T>>(acc));
    }
  });
}

// One (n, inner) block summed over n for each of its inner columns (the bias-gradient case).
template <typename T>
void sum_columns(const T* in, T* out, int64_t n, int64_t inner) {
  parallel_for(inner, 256, [&](int64_t begin, int64_t end) {
    std::vector<sum_acc_t<T>> acc(end - begin, 0);
    for (int64_t r = 0; r < n; ++r) {
      const T* p = in + r * inner;
      for (int64_t c = begin; c < end; ++c) acc[c - begin] += static_cast<sum_acc_t<T>>(static_cast<acc_t<T>>(p[c]));
    }
    for (int64_t c = begin; c < end; ++c) out[c] = static_cast<T>(static_cast<acc_t<T>>(acc[c - begin]));
  });
}

template <bool kMax, typename A>
bool better(A v, A best) {
  if constexpr (std::is_floating_point_v<A>) {
    if (std::isnan(best)) return false;
    if (std::isnan(v)) return true;
  }
  if constexpr (kMax) return v > best;
  else return v < best;
}

template <bool kMax, typename T>
void extreme_blocks(const T* p, T* values, int64_t* indices, const ReduceShape& l) {
  using A = acc_t<T>;
  const int64_t col_blocks = (l.inner + kColumns - 1) / kColumns;
  const int64_t tasks = l.outer * col_blocks;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, l.n * std::min(l.inner, kColumns)));
  parallel_for(tasks, grain, [&](int64_t t0, int64_t t1) {
    A best[kColumns];
    int64_t arg[kColumns];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / col_blocks;
      const int64_t j0 = (t % col_blocks) * kColumns;
      const int64_t width = std::min(kColumns, l.inner - j0);
      const T* base = p + o * l.n * l.inner + j0;
      for (int64_t j = 0; j < width; ++j) {
        best[j] = static_cast<A>(base[j]);
        arg[j] = 0;
      }
      for (int64_t k = 1; k < l.n; ++k) {
        const T* row = base + k * l.inner;
        for (int64_t j = 0; j < width; ++j) {
          const A v = static_cast<A>(row[j]);
          if (better<kMax>(v, best[j])) {
            best[j] = v;
            arg[j] = k;
          }
        }
      }
      for (int64_t j = 0; j < width; ++j) {
        values[o * l.inner + j0 + j] = T(best[j]);
        indices[o * l.inner + j0 + j] = arg[j];
      }
    }
  });
}

}  // namespace

void CpuBackend::sum(const void* in, void* out, DType dtype, const ReduceShape& shape) {
  dispatch_numeric(dtype, "sum", [&]<typename T>() {
    const T* p = host(static_cast<const T*>(in));
    T* o = host(static_cast<T*>(out));
    if (shape.inner == 1) return sum_rows(p, o, shape.outer, shape.n);
    for (int64_t b = 0; b < shape.outer; ++b) sum_columns(p + b * shape.n * shape.inner, o + b * shape.inner,
                                                          shape.n, shape.inner);
  });
}

void CpuBackend::variance(const void* in, void* out, DType dtype, const ReduceShape& shape, double divisor) {
  TESSERA_CHECK(shape.inner == 1, "variance: expected rows (inner 1), got inner ", shape.inner);
  dispatch_floating(dtype, "var", [&]<typename T>() {
    const T* p0 = host(static_cast<const T*>(in));
    T* o = host(static_cast<T*>(out));
    const int64_t count = shape.n;
    parallel_for(shape.outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(count, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* p = p0 + r * count;
        double sum = 0;
        for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(p[i]);
        const double mean = sum / static_cast<double>(count);
        double squares = 0;
        for (int64_t i = 0; i < count; ++i) {
          const double d = static_cast<double>(p[i]) - mean;
          squares += d * d;
        }
        o[r] = T(static_cast<acc_t<T>>(squares / divisor));
      }
    });
  });
}

void CpuBackend::extreme(bool is_max, const void* in, void* values, int64_t* indices, DType dtype,
                         const ReduceShape& shape) {
  dispatch_all(dtype, is_max ? "max" : "min", [&]<typename T>() {
    const T* p = host(static_cast<const T*>(in));
    T* v = host(static_cast<T*>(values));
    int64_t* i = host(indices);
    if (is_max) extreme_blocks<true>(p, v, i, shape);
    else extreme_blocks<false>(p, v, i, shape);
  });
}

void CpuBackend::extreme_backward(const void* grad, const int64_t* indices, void* grad_in, DType dtype,
                                  const ReduceShape& l) {
  dispatch_floating(dtype, "max_backward", [&]<typename T>() {
    const T* gp = host(static_cast<const T*>(grad));
    const int64_t* ip = host(indices);
    T* o = host(static_cast<T*>(grad_in));
    parallel_for(l.outer * l.inner, 32768, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t outer = c / l.inner, j = c % l.inner;
        o[(outer * l.n + ip[c]) * l.inner + j] = gp[c];
      }
    });
  });
}

}  // namespace tessera::kernels::cpu
