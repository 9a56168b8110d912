#pragma once
// The registry of `tessera` subcommands. Each returns the process exit code and throws tessera::Error on failure.
#include <functional>
#include <string>
#include <vector>

namespace tessera::cli {

struct Command {
  std::string name;
  std::string summary;
  std::function<int(const std::vector<std::string>& args)> run;
};

const std::vector<Command>& commands();

int run_demo(const std::vector<std::string>& args);

}  // namespace tessera::cli
