// Resource limits: tinyc refuses, before allocating, a model or data set that would need more
// memory than a configurable limit, instead of being killed by the OS half-way through a run.
#pragma once

#include <cstdint>
#include <string>

namespace tinyc {

// The limit in bytes. Default: half of the physical RAM; the environment variable
// TINYC_MEMORY_LIMIT (read once, e.g. "512M", "2G", "1500000000") or set_memory_limit override it.
uint64_t memory_limit();
// 0 restores the default.
void set_memory_limit(uint64_t bytes);
// Parses "123", "64K", "512M", "2G" (powers of 1024; case-insensitive, optional trailing "B").
// Throws Error(kUsage) naming `what` when the text is not a size.
uint64_t parse_size(const std::string& text, const std::string& what);

// Throws Error(kUnsupported) when `bytes` exceeds the limit: "<what> needs N MB, more than the
// memory limit of M MB (--memory-limit or TINYC_MEMORY_LIMIT)". Call before allocating.
void check_memory(double bytes, const std::string& what);

}  // namespace tinyc
