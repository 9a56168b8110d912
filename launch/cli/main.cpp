// The `tessera` command line. Subcommands are dispatched here; each lives in its own file (demo.cpp, ...).
// Library code throws tessera::Error; this is the one place that turns errors into messages and exit codes.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/log.h"
#include "distributed/bootstrap.h"
#include "launch/cli/commands.h"
#include "launch/cli/flags.h"

namespace {

// One message, then exit `status` (1: an error, 2: usage); under mpirun with several ranks, every rank ends
// (MPI_Abort), never a hang.
int fail(const std::string& command, const std::string& message, int status = 1) {
  const std::string text = "tessera " + command + ": error: " + message;
  if (tessera::dist::initialized() && tessera::dist::world().size > 1) tessera::dist::abort_job(text);
  std::cerr << text << "\n";
  return status;
}

void print_usage(std::ostream& out) {
  out << "usage: tessera <command> [options]\n\n"
         "commands:\n";
  for (const auto& command : tessera::cli::commands()) out << "  " << command.name << "\t" << command.summary << "\n";
  out << "\n`tessera <command> --help` describes a command's options; `tessera --version` the build and its "
         "libraries.\n";
}

// `--log-level LEVEL` (or =LEVEL) anywhere on the line sets core/log.h's level for this process (over
// TESSERA_LOG_LEVEL); it is taken out before the command sees its arguments.
std::vector<std::string> take_log_level(const std::vector<std::string>& args) {
  std::vector<std::string> kept;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--log-level" && i + 1 < args.size()) {
      tessera::log::set_level(tessera::log::parse_level(args[++i], "--log-level"));
    } else if (args[i].rfind("--log-level=", 0) == 0) {
      tessera::log::set_level(tessera::log::parse_level(args[i].substr(std::strlen("--log-level=")), "--log-level"));
    } else {
      kept.push_back(args[i]);
    }
  }
  return kept;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  try {
    args = take_log_level(std::vector<std::string>(argv + 1, argv + argc));
    tessera::log::level();  // an invalid TESSERA_LOG_LEVEL fails now, not at the first line logged
  } catch (const tessera::Error& e) {
    std::cerr << "tessera: error: " << e.message() << "\n";
    return 2;
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    print_usage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") return tessera::cli::print_version();
  const std::string name = args[0];
  for (const auto& command : tessera::cli::commands()) {
    if (command.name != name) continue;
    try {
      return command.run(std::vector<std::string>(args.begin() + 1, args.end()));
    } catch (const tessera::cli::UsageError& e) {
      return fail(name, e.message(), 2);
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
