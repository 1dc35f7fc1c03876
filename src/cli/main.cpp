// tinyc command line: parses flags (CLI11), calls the library, prints. Only this file turns
// tinyc::Error into exit codes (DESIGN.md §3).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "tinyc/error.h"
#include "tinyc/version.h"
#include "tinyc_git.h"  // TINYC_GIT_HASH, written at build time by cmake/GitHash.cmake

int main(int argc, char** argv) {
  CLI::App app{"tinyc: train, compress and compile tiny neural networks into MCU firmware"};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       std::string("tinyc ") + tinyc::kVersion + " (git " TINYC_GIT_HASH ")");
  tinyc::cli::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse problem is a usage error (exit 1).
    return app.exit(e) == 0 ? 0 : static_cast<int>(tinyc::ExitCode::kUsage);
  } catch (const tinyc::Error& e) {
    std::fprintf(stderr, "tinyc: error: %s\n", e.what());
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
