#pragma once
// One error type and one check macro for the whole library, from the lowest layer up (kernels throw it too).
// Library code never exits: it throws tessera::Error carrying file, line and a message that names the op,
// shapes, file or rank involved. C++17, so CUDA translation units can include it.
#include <sstream>
#include <stdexcept>
#include <string>

namespace tessera {

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, const char* file, int line)
      : std::runtime_error(message), message_(message), file_(file), line_(line) {}
  const std::string& message() const { return message_; }  // without the location
  const char* file() const { return file_; }
  int line() const { return line_; }

 private:
  std::string message_;
  const char* file_;
  int line_;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
[[noreturn]] void throw_error(const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace tessera

#define TESSERA_THROW(...) ::tessera::detail::throw_error(__FILE__, __LINE__, ::tessera::detail::concat(__VA_ARGS__))
#define TESSERA_CHECK(cond, ...)                                   \
  do {                                                             \
    if (__builtin_expect(!(cond), 0)) {                            \
      TESSERA_THROW(__VA_ARGS__);                                  \
    }                                                              \
  } while (0)
