// The `tessera` command line. Subcommands are dispatched here; each lives in its own file (demo.cpp, ...).
// Library code throws tessera::Error; this is the one place that turns errors into messages and exit codes.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "core/check.h"
#include "distributed/bootstrap.h"
#include "launch/cli/commands.h"

namespace {

// One message, then a non-zero exit; under mpirun with several ranks, every rank ends (MPI_Abort), never a hang.
int fail(const std::string& command, const std::string& message) {
  const std::string text = "tessera " + command + ": error: " + message;
  if (tessera::dist::initialized() && tessera::dist::world().size > 1) tessera::dist::abort_job(text);
  std::cerr << text << "\n";
  return 1;
}

void print_usage(std::ostream& out) {
  out << "usage: tessera <command> [options]\n\n"
         "commands:\n";
  for (const auto& command : tessera::cli::commands()) out << "  " << command.name << "\t" << command.summary << "\n";
  out << "\n`tessera <command> --help` describes a command's options; `tessera --version` the build and its "
         "libraries.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) return tessera::cli::print_version();
  const std::string name = argv[1];
  for (const auto& command : tessera::cli::commands()) {
    if (command.name != name) continue;
    try {
      return command.run(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const tessera::Error& e) {
      return fail(name, e.message());
    } catch (const std::exception& e) {
      return fail(name, e.what());
    }
  }
  std::cerr << "tessera: unknown command '" << name << "'\n\n";
  print_usage(std::cerr);
  return 2;
}
