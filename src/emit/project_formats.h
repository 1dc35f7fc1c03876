// Project layouts around the emitted NAME.h and NAME.cpp (`tinyc emit --format`), so the code
// drops into Arduino, PlatformIO, CMake or Zephyr projects as a library.
#pragma once

#include <string>
#include <vector>

#include "tinyc/emit.h"

namespace tinyc {

// Error(kUsage) naming the accepted formats when `format` is not one of emit_formats().
void check_emit_format(const std::string& format);

// Writes the files of options.format under options.out_dir (each atomically) and returns
// their paths, the header first.
std::vector<std::string> write_project(const EmittedCode& code, const Model& model,
                                       const EmitReport& report, const EmitOptions& options);

}  // namespace tinyc
