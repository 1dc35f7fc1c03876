// Shared set-up of the libFuzzer targets (fuzz/README.md). Every target feeds the bytes to one
// parser and accepts only tinyc::Error: any other exception, crash, sanitizer report, leak or
// allocation beyond the memory limit is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tinyc/limits.h"

namespace tinyc_fuzz {

// Low enough that libFuzzer's -rss_limit_mb (2 GB) is never what stops an input: tinyc's own
// check must refuse it first.
constexpr uint64_t kFuzzMemoryLimit = uint64_t{256} << 20;

// Models with larger inputs are loaded and checked but not run (time, not safety).
constexpr int64_t kMaxRunElements = int64_t{1} << 16;

inline void init_limits() { tinyc::set_memory_limit(kFuzzMemoryLimit); }

inline std::string bytes_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace tinyc_fuzz
