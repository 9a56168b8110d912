#include "launch/cli/flags.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <cstdint>
#include <sstream>
#include <system_error>

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
    throw_usage_error(command, ": ", e.what(), " (see `tessera ", command, " --help`)");
  }
  return values;
}

po::typed_value<std::string>* one_of(std::string* target, std::vector<std::string> choices, const std::string& flag,
                                    const std::string& what) {
  return po::value(target)->notifier([choices = std::move(choices), flag, what](const std::string& value) {
    if (std::find(choices.begin(), choices.end(), value) == choices.end())
      throw po::error(flag + " takes " + what + ", got '" + value + "'");
  });
}

std::vector<int64_t> parse_integer_list(const std::string& command, const std::string& flag, const std::string& text,
                                        int64_t min) {
  std::vector<int64_t> numbers;
  std::stringstream items(text);
  for (std::string item; std::getline(items, item, ',');) {
    int64_t value = 0;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (error != std::errc() || end != item.data() + item.size() || value < min)
      throw_usage_error(command, ": ", flag, " must be a comma-separated list of whole numbers >= ", min, ", got '",
                        text, "'");
    numbers.push_back(value);
  }
  if (numbers.empty()) throw_usage_error(command, ": ", flag, " is empty");
  return numbers;
}

void check_output_file(const std::string& command, const std::string& flag, const std::string& path) {
  const std::string folder = std::filesystem::path(path).parent_path().string();
  const std::string dir = folder.empty() ? "." : folder;
  TESSERA_CHECK(::access(dir.c_str(), W_OK) == 0, command, ": ", flag, " '", path, "': cannot write into the folder '",
                dir, "': ", std::strerror(errno));
}

}  // namespace tessera::cli
