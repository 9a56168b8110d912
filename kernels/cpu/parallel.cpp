#include "kernels/cpu/parallel.h"

#include <omp.h>
#include <sched.h>

#include <cstdlib>
#include <string>

extern "C" void openblas_set_num_threads(int);

namespace tessera::kernels::cpu {

namespace {

int cores_allowed() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, omp_get_num_procs());
}

int initial_threads() {
  if (const char* env = std::getenv("TESSERA_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return cores_allowed();
}

int& thread_count() {
  static int count = [] {
    const int n = initial_threads();
    openblas_set_num_threads(n);
    omp_set_num_threads(n);
    return n;
  }();
  return count;
}

}  // namespace

int num_threads() { return thread_count(); }

void set_num_threads(int n) {
  n = std::max(1, n);
  thread_count() = n;
  openblas_set_num_threads(n);
  omp_set_num_threads(n);
}

bool in_parallel_region() { return omp_in_parallel() != 0; }

}  // namespace tessera::kernels::cpu
