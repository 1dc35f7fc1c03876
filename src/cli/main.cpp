// tinyc command line: parses flags (CLI11), calls the library, prints. Only this file turns
// tinyc::Error into exit codes (DESIGN.md §3).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "tinyc/error.h"
#include "tinyc/limits.h"
#include "tinyc/version.h"
#include "tinyc_git.h"  // TINYC_GIT_HASH, written at build time by cmake/GitHash.cmake

namespace {

// Messages quote bytes from untrusted files: control characters (newlines, terminal escape
// sequences) are shown as \xNN, so that an error is always one harmless line.
std::string printable(const char* message) {
  std::string out;
  for (const char* p = message; *p != '\0'; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tinyc: train, compress and compile tiny neural networks into MCU firmware"};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       std::string("tinyc ") + tinyc::kVersion + " (git " TINYC_GIT_HASH ")");
  app.fallthrough();  // global options may also follow the subcommand
  app.add_option_function<std::string>(
      "--memory-limit",
      [](const std::string& size) { tinyc::set_memory_limit(tinyc::parse_size(size, "--memory-limit")); },
      "Refuse models and data needing more memory than this (e.g. 512M, 2G; default: half the "
      "RAM, or TINYC_MEMORY_LIMIT); exit 4");
  tinyc::cli::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse problem is a usage error (exit 1).
    return app.exit(e) == 0 ? 0 : static_cast<int>(tinyc::ExitCode::kUsage);
  } catch (const tinyc::Error& e) {
    std::fprintf(stderr, "tinyc: error: %s\n", printable(e.what()).c_str());
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "tinyc: error: out of memory\n");
    return static_cast<int>(tinyc::ExitCode::kUnsupported);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tinyc: error: internal: %s\n", e.what());
    return static_cast<int>(tinyc::ExitCode::kBadInput);
  }
  return 0;
}
