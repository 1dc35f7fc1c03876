// Errors thrown by libtinyc. Only the CLI's main turns them into exit codes (DESIGN.md §3).
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace tinyc {

enum class ExitCode : int {
  kOk = 0,
  kUsage = 1,        // bad flags or arguments
  kBadInput = 2,     // data, spec or model file is malformed
  kDiverged = 3,     // training produced NaN/Inf
  kUnsupported = 4,  // op, target, feature or size not supported
  kInterrupted = 130,
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// Shorthands: throw an Error with a fmt-formatted one-line message.
template <typename... Args>
[[noreturn]] void fail(ExitCode code, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
[[noreturn]] void bad_input(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(ExitCode::kBadInput, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
[[noreturn]] void unsupported(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(ExitCode::kUnsupported, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tinyc
