#include "launch/cli/checkpoint_job_flags.h"

#include <boost/program_options.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "launch/cli/flags.h"

namespace tessera::cli {

namespace po = boost::program_options;

std::optional<CheckpointJobFlags> parse_checkpoint_job_flags(const std::string& command, const std::string& usage,
                                                             const std::string& out_help,
                                                             const std::vector<std::string>& args,
                                                             bool preprocessing_flag) {
  CheckpointJobFlags flags;
  std::vector<std::string> data;
  po::options_description description(usage);
  description.add_options()("help,h", "this help")                                               //
      ("config", po::value(&flags.config), "the JSON config whose model the checkpoint holds")   //
      ("checkpoint", po::value(&flags.checkpoint)->required(), "checkpoint file (its weights)")  //
      ("out", po::value(&flags.out)->required(), out_help.c_str())                               //
      ("data", po::value(&data)->multitoken(),
       "HDF5 files (patterns as in data.test) holding the config's data.x; default: the config's data.test")  //
      ("set", po::value(&flags.overrides)->composing(), "override a config value: --set data.x=images (repeatable)");
  if (preprocessing_flag) {
    description.add_options()("with-preprocessing", po::bool_switch(&flags.with_preprocessing),
                              "the graph takes samples as the data files store them (float32) and applies "
                              "data.layout's transpose and data.scale/mean/std first");
  }
  po::positional_options_description positional;
  positional.add("config", 1);
  const auto values = parse_flags(command, args, description, positional);
  if (values.count("help")) {
    std::cout << description;
    return std::nullopt;
  }
  if (flags.config.empty()) throw_usage_error(command, ": give the config file: ", usage.substr(usage.find("tessera")));
  if (!data.empty()) flags.overrides.push_back("data.test=" + nlohmann::json(data).dump());
  return flags;
}

}  // namespace tessera::cli
