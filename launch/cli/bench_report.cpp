// Helpers for benchmark reports (see bench_report.h).
#include "launch/cli/bench_report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "core/check.h"

namespace tessera::cli {

std::string now_utc() {
  char text[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

double median(std::vector<double> values) {
  TESSERA_CHECK(!values.empty(), "median of no values");
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string bench_command_line(const std::string& bench, const std::vector<std::string>& args, int ranks) {
  std::string command = "mpirun -n " + std::to_string(ranks) + " tessera bench " + bench;
  for (const std::string& arg : args) command += " " + arg;
  return command;
}

}  // namespace tessera::cli
