#include "kernels/common/check.h"

namespace tessera::detail {

void throw_error(const char* file, int line, const std::string& message) {
  throw Error(message, file, line);
}

}  // namespace tessera::detail
