// The CPU libraries and instruction sets of this build, for `tessera --version` (kernels/device_info.h).
#include <cblas.h>
#include <dnnl.h>

#include <string>

#include "kernels/device_info.h"

namespace tessera::kernels {

std::string cpu_library_versions() {
  const dnnl_version_t* onednn = dnnl_version();
  return std::string(openblas_get_config()) + " (core " + openblas_get_corename() + "); oneDNN " +
         std::to_string(onednn->major) + "." + std::to_string(onednn->minor) + "." + std::to_string(onednn->patch);
}

// What the compiler was allowed to use for this file, as for every kernel file (cmake/CpuArch.cmake sets it).
std::string cpu_features() {
  std::string features;
  const auto add = [&](const char* name) { features += (features.empty() ? "" : " ") + std::string(name); };
#ifdef __SSE4_2__
  add("sse4.2");
#endif
#ifdef __AVX__
  add("avx");
#endif
#ifdef __AVX2__
  add("avx2");
#endif
#ifdef __FMA__
  add("fma");
#endif
#ifdef __F16C__
  add("f16c");
#endif
#ifdef __AVX512F__
  add("avx512f");
#endif
  return features.empty() ? "baseline x86-64" : features;
}

}  // namespace tessera::kernels
