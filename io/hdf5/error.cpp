#include "io/hdf5/error.h"

#include <sstream>
#include <vector>

namespace tessera::io::h5 {

void silence_errors() {
  thread_local bool silenced = false;
  if (silenced) return;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  silenced = true;
}

std::string error_stack_text() {
  std::vector<std::string> messages;
  auto collect = [](unsigned, const H5E_error2_t* error, void* data) -> herr_t {
    if (error->desc && *error->desc) static_cast<std::vector<std::string>*>(data)->emplace_back(error->desc);
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect, &messages);
  H5Eclear2(H5E_DEFAULT);
  if (messages.empty()) return "no details";
  std::ostringstream text;  // (std::string += here trips a GCC 12 -Wrestrict false positive)
  for (size_t i = 0; i < messages.size() && i < 3; ++i) text << (i ? "; " : "") << messages[i];
  return text.str();
}

}  // namespace tessera::io::h5
