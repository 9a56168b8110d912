#pragma once
// Runs a benchmark's peer (the PyTorch script of the same benchmark) and returns what it printed: one JSON object,
// or "" when the command failed, so the benchmark can report Tessera alone.
#include <cstdio>
#include <string>

namespace tessera::bench {

inline std::string run_command(const std::string& command) {
  std::string output;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[4096];
    while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
    if (pclose(pipe) != 0) output.clear();
  }
  return output;
}

}  // namespace tessera::bench
