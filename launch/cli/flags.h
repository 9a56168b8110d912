#pragma once
// Flag parsing shared by the `tessera` subcommands (boost::program_options): a bad or unknown flag becomes one
// tessera::Error naming it and pointing at `--help`.
#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace tessera::cli {

boost::program_options::variables_map parse_flags(
    const std::string& command, const std::vector<std::string>& args,
    const boost::program_options::options_description& options,
    const boost::program_options::positional_options_description& positional = {});

}  // namespace tessera::cli
