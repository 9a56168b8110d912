#include "launch/cli/flags.h"

#include "core/check.h"

namespace tessera::cli {

namespace po = boost::program_options;

po::variables_map parse_flags(const std::string& command, const std::vector<std::string>& args,
                              const po::options_description& options,
                              const po::positional_options_description& positional) {
  po::variables_map values;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), values);
    if (!values.count("help")) po::notify(values);
  } catch (const po::error& e) {
    TESSERA_THROW(command, ": ", e.what(), " (see `tessera ", command, " --help`)");
  }
  return values;
}

}  // namespace tessera::cli
