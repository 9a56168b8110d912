#include "distributed/collective_call.h"

#include <cstdio>

namespace tessera::dist {

std::string format_bytes(double bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 4) {
    bytes /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

std::string CollectiveCall::describe() const {
  std::string text = name;
  if (!detail.empty()) text += "(" + detail + ")";
  if (name != "barrier" && name != "setup") {  // setup: MPI_Comm_dup, ncclCommInitRank (no buffer)
    text += " of " + std::to_string(numel) + " x " + dtype_name(dtype) + " (" +
            format_bytes(static_cast<double>(numel) * static_cast<double>(element_size(dtype))) + ")";
  }
  if (!tag.what.empty()) text += ", " + tag.what;
  if (tag.step >= 0) text += ", step " + std::to_string(tag.step);
  return text;
}

}  // namespace tessera::dist
