#pragma once
// Included first (-include) in every kernels/cuda source compiled for the CPU (README.md beside this file): what
// nvcc gives device code and g++ lacks. A kernel runs as one C++ call per CUDA thread; a block's threads run as
// fibers of one OS thread (block_scheduler.cpp), so __syncthreads and warp shuffles are real rendezvous, and
// __shared__ variables are one copy per OS thread (blocks run one after another).
#include <cuda_runtime.h>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

#define __launch_bounds__(...)
#undef __shared__
#define __shared__ static thread_local

namespace tessera::cuda_on_cpu {

// The running CUDA thread's coordinates.
struct ThreadPlace {
  uint3 thread;
  uint3 block;
  dim3 block_dim;
  dim3 grid_dim;
};
const ThreadPlace& place();

// The calling thread's lane: its index in the block (x fastest, then y, z), modulo 32.
int lane();
void syncthreads();
// Every lane of the calling thread's warp deposits `value`; returns lane `source`'s (all 32 lanes must take part,
// as a full mask demands).
uint64_t shuffle(uint64_t value, int source);
// Refuses what is not emulated (a partial mask) or undefined (a width that is not a power of two up to 32).
void check_shuffle(unsigned mask, int width, const char* intrinsic);
// Fills a __shared__ variable with garbage the first time a thread of the running block reaches its declaration
// (translate_cuda_source.py adds the call after each), as a GPU's shared memory holds a previous block's bytes.
void poison_shared(void* variable, size_t bytes);
// The launch's dynamic shared memory (its third launch parameter), 16-byte aligned.
void* dynamic_shared_bytes();
template <typename T>
T* dynamic_shared() {
  return static_cast<T*>(dynamic_shared_bytes());
}

// Runs body once per thread of grid x block, or records the launch into the stream's capture (runtime.cpp). A bad
// configuration leaves cudaErrorInvalidConfiguration as the last error, as a GPU launch does.
void launch(const char* name, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
            std::function<void()> body);

// name<<<grid, block, shared, stream>>>(args...) after translate_cuda_source.py.
struct Launch {
  const char* name;  // the kernel as the launch names it (DeviceWorkCounts counts launches by name)
  dim3 grid, block;
  size_t shared;
  cudaStream_t stream;
  Launch(const char* n, dim3 g, dim3 b, size_t s = 0, cudaStream_t st = nullptr)
      : name(n), grid(g), block(b), shared(s), stream(st) {}
  // The arguments are copied once, at the launch (as CUDA copies kernel parameters); each thread's call copies them
  // again into its own parameters.
  template <typename Kernel, typename... Args>
  void operator()(Kernel kernel, Args... args) const {
    launch(name, grid, block, shared, stream, [kernel, args...]() { kernel(args...); });
  }
};

template <typename T>
T shuffle_value(T value, int source) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8);
  uint64_t word = 0;
  std::memcpy(&word, &value, sizeof(T));
  word = shuffle(word, source);
  std::memcpy(&value, &word, sizeof(T));
  return value;
}

}  // namespace tessera::cuda_on_cpu

#define threadIdx (::tessera::cuda_on_cpu::place().thread)
#define blockIdx (::tessera::cuda_on_cpu::place().block)
#define blockDim (::tessera::cuda_on_cpu::place().block_dim)
#define gridDim (::tessera::cuda_on_cpu::place().grid_dim)

inline void __syncthreads() { tessera::cuda_on_cpu::syncthreads(); }

// As CUDA documents them for width-lane segments: xor may read a lane of an earlier segment, never of a later one
// (the caller's own value then); down reads the caller's own value past the end of its segment.
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  tessera::cuda_on_cpu::check_shuffle(mask, width, "__shfl_xor_sync");
  const int lane = tessera::cuda_on_cpu::lane();
  const int source = (lane ^ lane_mask) & 31;
  return tessera::cuda_on_cpu::shuffle_value(value, source / width > lane / width ? lane : source);
}

template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  tessera::cuda_on_cpu::check_shuffle(mask, width, "__shfl_down_sync");
  const int lane = tessera::cuda_on_cpu::lane();
  const int source = lane + static_cast<int>(delta % 32);
  return tessera::cuda_on_cpu::shuffle_value(value, source / width == lane / width ? source : lane);
}

// Atomics as the GPU's: read-modify-write returning the old value. Threads of one block are fibers of one OS
// thread, but another OS thread may run another kernel at the same time, so they are real atomics.
template <typename T>
T atomicAdd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value);
}
template <typename T>
T atomicMin(T* address, T value) {
  std::atomic_ref<T> ref(*address);
  T old = ref.load();
  while (value < old && !ref.compare_exchange_weak(old, value)) {
  }
  return old;
}
template <typename T>
T atomicCAS(T* address, T compare, T value) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, value);
  return compare;  // the old value, whether or not it was swapped
}

// CUDA's integer min/max overloads (device code calls them unqualified); both operands of one type, as here.
template <typename T>
  requires std::is_integral_v<T>
T min(T a, T b) {
  return b < a ? b : a;
}
template <typename T>
  requires std::is_integral_v<T>
T max(T a, T b) {
  return a < b ? b : a;
}

inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
