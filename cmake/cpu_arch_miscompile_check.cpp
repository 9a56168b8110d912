// Configure-time check (cmake/CpuArch.cmake): exits 0 when the compiler builds this correctly with the chosen -march.
// Debian 12's GCC 12.2 with AVX-512 enabled (-march=native on an AVX-512 machine, x86-64-v4, -mavx512f) stores
// {2, 0} instead of {0, 0} into `stride` here: the same shape as nn::MaxPool2d(2), which broke every CNN.
#include <cstdint>
struct Pair { int64_t h = 0, w = 0; Pair() = default; Pair(int64_t both) : h(both), w(both) {} };
struct Options { Pair kernel{}; Pair stride = 0; Pair padding = 0; bool flag = false; };
__attribute__((noinline)) int64_t stride_w(Options o) { return o.stride.h + o.stride.w; }
struct Layer { explicit Layer(Options o) : s(stride_w(o)) {} explicit Layer(Pair k) : Layer(Options{.kernel = k}) {} int64_t s; };
int main() { return Layer(2).s == 0 ? 0 : 1; }
