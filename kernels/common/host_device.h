#pragma once
// TESSERA_HD marks functions that both host code and CUDA kernels call (element functors, dtype conversions);
// outside nvcc it expands to nothing.
#if defined(__CUDACC__)
#define TESSERA_HD __host__ __device__
#else
#define TESSERA_HD
#endif

// Always inlined: in a translation unit with many kernel instantiations GCC stops inlining small functors on its
// own, and an out-of-line call in a loop body stops it vectorising (measured: 20x slower).
#if defined(__CUDACC__)
#define TESSERA_HD_INLINE __host__ __device__ __forceinline__
#else
#define TESSERA_HD_INLINE inline __attribute__((always_inline))
#endif

// The same for a host lambda passed to a loop (GCC attribute placement: after the parameter list).
#define TESSERA_HD_INLINE_LAMBDA __attribute__((always_inline))
