// CpuBackend::random_fill and dropout: each element computed from its own Philox words (kernels/random_value.h), in
// parallel, one Philox block per four consecutive words and the kind fixed outside the loop; the numbers do not
// depend on the thread count or the device.
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/elementwise_ops.h"
#include "kernels/random_value.h"

namespace tessera::kernels::cpu {

namespace {

// set(i, value) for every element i in [0, n), value = element i's number of kind kKind as a T, in parallel chunks
// (each with its own cache: neighbouring elements share Philox blocks). `args` has its graph offset applied.
template <typename T, RandomKind kKind, typename Set>
void for_each_number(const RandomArgs& args, DType dtype, int64_t n, Set&& set) {
  parallel_for(n, 16384, [&](int64_t begin, int64_t end) {
    PhiloxBlockCache words(args.seed);
    for (int64_t i = begin; i < end; ++i)
      set(i, ops::from_double<T>(random_value<kKind>(args, dtype, static_cast<uint64_t>(i), words)));
  });
}

}  // namespace

void CpuBackend::random_fill(void* out, DType dtype, int64_t n, const RandomArgs& graph_args) {
  RandomArgs args = graph_args;
  if (args.offset_base) args.offset += *host(args.offset_base);
  dispatch_numeric(dtype, "random_fill", [&]<typename T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      T* o = host(static_cast<T*>(out));
      dispatch_random_kind(args.kind, [&]<RandomKind kKind>() {
        for_each_number<T, kKind>(args, dtype, n, [o](int64_t i, T value) { o[i] = value; });
      });
    }
  });
}

void CpuBackend::dropout(const void* x, void* mask, void* y, DType dtype, int64_t n, const RandomArgs& graph_args) {
  TESSERA_CHECK(graph_args.kind == RandomKind::bernoulli, "dropout: expected a bernoulli mask");
  RandomArgs args = graph_args;
  if (args.offset_base) args.offset += *host(args.offset_base);
  dispatch_floating(dtype, "dropout", [&]<typename T>() {
    const T* in = host(static_cast<const T*>(x));
    T* m = host(static_cast<T*>(mask));
    T* out = host(static_cast<T*>(y));
    const ops::Mul<T> mul{OpScalars{}};
    for_each_number<T, RandomKind::bernoulli>(args, dtype, n, [&](int64_t i, T value) {
      m[i] = value;
      out[i] = mul(in[i], value);
    });
  });
}

}  // namespace tessera::kernels::cpu
