#include "io/open_files.h"

#include <sys/resource.h>

#include <algorithm>

namespace tessera::io {

size_t default_max_open_files() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kMostOpenFilesByDefault;
  return std::clamp<size_t>(static_cast<size_t>(limit.rlim_cur) / 4, kFewestOpenFilesByDefault,
                            kMostOpenFilesByDefault);
}

}  // namespace tessera::io
