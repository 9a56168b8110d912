# -march for Tessera's own CPU kernels (TESSERA_CPU_ARCH; empty: the compiler's default).
# Default on x86-64: x86-64-v3 (AVX2 + FMA) when the building machine runs it, not `native`: Debian 12's GCC 12.2
# miscompiles with AVX-512 enabled (cpu_arch_miscompile_check.cpp), the heavy lifting (OpenBLAS GEMM, oneDNN
# convolutions) picks AVX-512 at run time anyway, and a v3 binary runs on every node of a mixed cluster.
# Elsewhere: native. Whatever is chosen, configuring fails if the compiler gets the known-bad pattern wrong with it.
include(CheckCXXSourceRuns)

if(NOT DEFINED TESSERA_CPU_ARCH)
  set(default_arch native)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    set(CMAKE_REQUIRED_FLAGS -march=x86-64-v3)
    check_cxx_source_runs("int main() { return __builtin_cpu_supports(\"avx2\") && __builtin_cpu_supports(\"fma\") ? 0 : 1; }"
                          TESSERA_HOST_RUNS_X86_64_V3)
    unset(CMAKE_REQUIRED_FLAGS)
    set(default_arch "")
    if(TESSERA_HOST_RUNS_X86_64_V3)
      set(default_arch x86-64-v3)
    endif()
  endif()
  set(TESSERA_CPU_ARCH "${default_arch}" CACHE STRING "Value for -march (empty: compiler default)")
endif()

if(TESSERA_CPU_ARCH)
  file(READ ${CMAKE_CURRENT_LIST_DIR}/cpu_arch_miscompile_check.cpp miscompile_check_source)
  set(CMAKE_REQUIRED_FLAGS "-O3 -march=${TESSERA_CPU_ARCH}")
  # The result variable is named after the arch, so changing TESSERA_CPU_ARCH checks again.
  string(MAKE_C_IDENTIFIER "TESSERA_ARCH_BUILDS_CORRECTLY_${TESSERA_CPU_ARCH}" arch_check_var)
  check_cxx_source_runs("${miscompile_check_source}" ${arch_check_var})
  unset(CMAKE_REQUIRED_FLAGS)
  if(NOT ${arch_check_var})
    message(FATAL_ERROR "TESSERA_CPU_ARCH=${TESSERA_CPU_ARCH}: ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION} "
                        "miscompiles cmake/cpu_arch_miscompile_check.cpp with -O3 -march=${TESSERA_CPU_ARCH} (a "
                        "known GCC 12 bug with AVX-512 enabled). Configure with -DTESSERA_CPU_ARCH=x86-64-v3 or leave "
                        "it unset.")
  endif()
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-march=${TESSERA_CPU_ARCH}>)
endif()
