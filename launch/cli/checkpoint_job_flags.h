#pragma once
// The flags of the commands that use a trained checkpoint with its config (`tessera predict`, `tessera export`):
// CONFIG.json --checkpoint FILE --out FILE [--data FILE ...] [--set key=value ...]. --data becomes a data.test
// override, so the config's data.* settings (x, scale, layout) apply to those files.
#include <optional>
#include <string>
#include <vector>

namespace tessera::cli {

struct CheckpointJobFlags {
  std::string config, checkpoint, out;
  std::vector<std::string> overrides;  // --set, then data.test from --data
  bool with_preprocessing = false;     // --with-preprocessing, where offered
};

// nullopt after --help (printed). preprocessing_flag: offer --with-preprocessing (export).
std::optional<CheckpointJobFlags> parse_checkpoint_job_flags(const std::string& command, const std::string& usage,
                                                             const std::string& out_help,
                                                             const std::vector<std::string>& args,
                                                             bool preprocessing_flag = false);

}  // namespace tessera::cli
