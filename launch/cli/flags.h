#pragma once
// Flag parsing shared by the `tessera` subcommands (boost::program_options): a bad or unknown flag becomes one
// UsageError naming it and pointing at `--help` (exit status 2, as for an unknown command).
#include <boost/program_options.hpp>
#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "core/check.h"

namespace tessera::cli {

// The command line itself is wrong (an unknown or malformed flag, a missing argument): `tessera` exits 2, not 1.
class UsageError : public Error {
 public:
  using Error::Error;
};
template <typename... Parts>
[[noreturn]] void throw_usage_error(const Parts&... parts) {
  throw UsageError(detail::concat(parts...), __FILE__, __LINE__);
}

boost::program_options::variables_map parse_flags(
    const std::string& command, const std::vector<std::string>& args,
    const boost::program_options::options_description& options,
    const boost::program_options::positional_options_description& positional = {});

// A numeric flag's value with a lower bound: ("steps", at_least(&steps, 1, "--steps")->default_value(steps), ...).
// program_options already rejects text that is not a number ("the argument ('abc') for option '--steps' is
// invalid") but takes -5 and nan; this rejects a value below `min` (or NaN) with a message naming the flag. Signed
// types only: for an unsigned one, "-5" arrives as 2^64 - 5.
template <class T>
boost::program_options::typed_value<T>* at_least(T* target, std::type_identity_t<T> min, const std::string& flag) {
  static_assert(std::is_signed_v<T>, "unsigned flags take -5 as a huge number: use a signed type");
  return boost::program_options::value(target)->notifier([min, flag](T value) {
    if (value >= min) return;
    std::ostringstream message;
    message << flag << " must be at least " << min << ", got " << value;
    throw boost::program_options::error(message.str());
  });
}

// A text flag taking one of `choices` (its implicit value included): anything else fails while the flags are parsed,
// before the job starts, as "<flag> takes <what>, got '<value>'" (a usage error, exit status 2).
boost::program_options::typed_value<std::string>* one_of(std::string* target, std::vector<std::string> choices,
                                                        const std::string& flag, const std::string& what);

// A comma-separated list of whole numbers, each at least `min` ("--ranks 1,2"); anything else is an error naming
// the flag.
std::vector<int64_t> parse_integer_list(const std::string& command, const std::string& flag, const std::string& text,
                                        int64_t min);

// An output file that is written only at the end of a job (train --timeline, predict --out, export --out): its
// folder must exist and be writable now, else an error naming the command, the flag and the reason, before the job
// spends its time. (Called on the rank that writes it.)
void check_output_file(const std::string& command, const std::string& flag, const std::string& path);

}  // namespace tessera::cli
