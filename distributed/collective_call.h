#pragma once
// What one collective call is, in words, for error messages and the watchdog's timeout message:
//   "allreduce(sum) of 1048576 x f32 (4.0 MiB), bucket 3, step 17"
#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "distributed/communicator.h"

namespace tessera::dist {

struct CollectiveCall {
  std::string name;       // "allreduce", "broadcast", ...
  std::string detail;     // "sum", "root 0"; empty when nothing to add
  DType dtype = DType::f32;
  int64_t numel = 0;      // elements this rank sends (0 for barrier)
  CollectiveTag tag;

  std::string describe() const;
};

std::string format_bytes(double bytes);  // "512 B", "4.0 KiB", "1.5 MiB"

}  // namespace tessera::dist
