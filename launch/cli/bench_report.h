#pragma once
// Small helpers for the `tessera bench` reports: when and where a result was measured, medians, number formatting.
#include <string>
#include <vector>

namespace tessera::cli {

std::string now_utc();    // "2026-11-25T16:30:00Z"
std::string host_name();
double median(std::vector<double> values);  // of a non-empty list
std::string format(const char* pattern, double value);  // snprintf of one number
// The command line as run: "mpirun -n 2 tessera bench ddp --steps 5".
std::string bench_command_line(const std::string& bench, const std::vector<std::string>& args, int ranks);

}  // namespace tessera::cli
