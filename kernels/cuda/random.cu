// CudaBackend::random_fill and dropout: the CPU's numbers (kernels/random_value.h) computed on the device.
// Invariants:
//  - element i uses stream words args.offset + i * W ... + W - 1, as on the CPU, so a fill is bitwise the CPU's
//    for the same seed and offset (normals to the device's log/cos rounding, as the contract allows);
//  - a thread owns one Philox block b of the stream: it computes that block once and produces every element whose
//    first word lies in it (up to 4). An element's later words may spill into block b + 1, which the thread then
//    computes too; the eight words stay in registers (unrolled selects, no local-memory array);
//  - one launch; grid-stride over blocks, so any n fits;
//  - dropout is the bernoulli fill with the product y = x * mask written beside the mask, in binary mul's
//    arithmetic (ops::Mul), so it is bitwise the fill and the multiply it replaces.
#include <type_traits>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/elementwise_ops.h"
#include "kernels/random_value.h"

namespace tessera::kernels::cuda {

namespace {

// Words 4 * block ... 4 * block + 7 of a stream: the thread's Philox block and, when needed, the next one.
struct BlockWords {
  uint64_t block;
  uint32_t words[8];

  __device__ uint32_t operator()(uint64_t j) const {
    const uint64_t k = j - 4 * block;  // in [0, 8) for every word an element of this block asks for
    uint32_t w = words[0];
#pragma unroll
    for (int t = 1; t < 8; ++t) w = k == static_cast<uint64_t>(t) ? words[t] : w;
    return w;
  }
};

__device__ __forceinline__ void philox_block(uint64_t block, const uint32_t key[2], uint32_t out[4]) {
  const uint32_t counter[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u};
  philox4x32_10(counter, key, out);
}

// Dropout's product beside the fill: y[i] = x[i] * out[i] (both null for a plain fill).
template <typename T>
struct Product {
  const T* x;
  T* y;
  ops::Mul<T> mul;  // built on the host (functors take their scalars there)
};

template <typename T, RandomKind kKind>
__global__ void random_fill_kernel(T* out, DType dtype, int64_t n, RandomArgs args, Product<T> product) {
  if (args.offset_base) args.offset += *args.offset_base;  // a graph's replay: the launch shape does not depend on it
  const uint64_t per = random_words_per_element(kKind, dtype);
  const uint64_t first_block = args.offset / 4;
  const uint64_t last_block = (args.offset + static_cast<uint64_t>(n - 1) * per) / 4;  // of the last first word
  const uint32_t key[2] = {static_cast<uint32_t>(args.seed), static_cast<uint32_t>(args.seed >> 32)};
  TESSERA_GRID_STRIDE_LOOP(t, static_cast<int64_t>(last_block - first_block + 1)) {
    BlockWords words;
    words.block = first_block + static_cast<uint64_t>(t);
    // Elements whose first word is in [4 block, 4 block + 4): i in [lo, hi).
    const uint64_t begin_word = 4 * words.block, end_word = begin_word + 4;
    const uint64_t lo = begin_word <= args.offset ? 0 : (begin_word - args.offset + per - 1) / per;
    const uint64_t hi_unclipped = (end_word - args.offset + per - 1) / per;
    const uint64_t hi = hi_unclipped < static_cast<uint64_t>(n) ? hi_unclipped : static_cast<uint64_t>(n);
    if (lo >= hi) continue;  // only when per > 4 (never: at most 4 words an element)
    philox_block(words.block, key, words.words);
    if (args.offset + hi * per > end_word) philox_block(words.block + 1, key, words.words + 4);  // spills over
    for (uint64_t i = lo; i < hi; ++i) {
      out[i] = ops::from_double<T>(random_value<kKind>(args, dtype, i, words));
      if (product.y) product.y[i] = product.mul(product.x[i], out[i]);
    }
  }
}

template <typename T, RandomKind kKind>
void launch_fill(T* out, DType dtype, int64_t n, const RandomArgs& args, Product<T> product, cudaStream_t stream) {
  if (n <= 0) return;
  // One thread per Philox block: about n * W / 4 of them.
  const int64_t blocks = (n * static_cast<int64_t>(random_words_per_element(kKind, dtype)) + 7) / 4;
  random_fill_kernel<T, kKind><<<grid_for(blocks), kBlockSize, 0, stream>>>(out, dtype, n, args, product);
  TESSERA_CUDA_CHECK_LAUNCH(random_fill_kernel);
}

}  // namespace

void CudaBackend::random_fill(void* out, DType dtype, int64_t n, const RandomArgs& args) {
  dispatch_numeric(dtype, "random_fill", [&]<typename T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      dispatch_random_kind(args.kind, [&]<RandomKind kKind>() {
        const Product<T> none{nullptr, nullptr, ops::Mul<T>(OpScalars{})};
        launch_fill<T, kKind>(static_cast<T*>(out), dtype, n, args, none, stream());
      });
    }
  });
}

void CudaBackend::dropout(const void* x, void* mask, void* y, DType dtype, int64_t n, const RandomArgs& args) {
  TESSERA_CHECK(args.kind == RandomKind::bernoulli, "dropout: expected a bernoulli mask");
  dispatch_floating(dtype, "dropout", [&]<typename T>() {
    const Product<T> product{static_cast<const T*>(x), static_cast<T*>(y), ops::Mul<T>(OpScalars{})};
    launch_fill<T, RandomKind::bernoulli>(static_cast<T*>(mask), dtype, n, args, product, stream());
  });
}

}  // namespace tessera::kernels::cuda
