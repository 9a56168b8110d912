#pragma once
// What every oneDNN primitive of the CPU backend shares: one CPU engine, a stream per calling thread, and primitive
// attributes that take the scratchpad from the caller (a plan allocates it once: fresh memory costs page faults on
// every call, and oneDNN's kernels want MBs of scratch).
#include <dnnl.hpp>

namespace tessera::kernels::cpu {

inline dnnl::engine& onednn_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

inline dnnl::stream& onednn_stream() {
  thread_local dnnl::stream s(onednn_engine());
  return s;
}

// Whether oneDNN runs bf16 on bf16 units (AVX512-BF16 or AMX). Without them it has only emulating kernels, slower
// than widening to f32 (its bf16 GEMM: 21 GFLOP/s on AVX-512 against ~100 for f32), or none at all (AVX2).
// DNNL_MAX_CPU_ISA=AVX512_CORE hides the units, for tests of the other path.
inline bool onednn_bf16_units() {
  static const bool present = [] {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return (isa & bf16) == bf16;  // the ISA values are nested bit sets; AMX includes AVX512-BF16
  }();
  return present;
}

inline dnnl::primitive_attr onednn_user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

}  // namespace tessera::kernels::cpu
