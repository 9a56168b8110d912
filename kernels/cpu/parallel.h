#pragma once
// CPU threading for kernels. One pool (OpenMP) sized by TESSERA_NUM_THREADS, or by the cores this process may
// run on (its affinity mask: under mpirun each rank gets the cores MPI bound it to). BLAS is set to match.
#include <algorithm>
#include <cstdint>

namespace tessera::kernels::cpu {

int num_threads();
void set_num_threads(int n);  // also sets the BLAS thread count
bool in_parallel_region();

// Calls fn(begin, end) over [0, n) split into chunks of at least `grain` items, in parallel when n is large
// enough and we are not already inside a parallel region.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  const int threads = num_threads();
  if (threads <= 1 || n <= grain || in_parallel_region()) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = n * c / chunks;
    const int64_t end = n * (c + 1) / chunks;
    if (begin < end) fn(begin, end);
  }
}

}  // namespace tessera::kernels::cpu
