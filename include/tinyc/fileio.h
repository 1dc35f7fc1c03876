// File helpers shared by every stage: whole-file reads (gzip transparent) and atomic writes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace tinyc {

// Reads a whole file; gzip-compressed files (any name) are inflated transparently.
// Throws Error(kBadInput) naming the path when it is missing, unreadable or a bad gzip stream.
std::string read_file(const std::string& path);

// Writes `bytes` to a temporary file next to `path`, then renames it over `path`, so readers
// never see a half-written file. On failure nothing is left behind.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Creates `dir` (and parents) if missing.
void make_dirs(const std::string& dir);

bool is_directory(const std::string& path);
bool file_exists(const std::string& path);

// CRC-32 (zlib's polynomial), and FNV-1a 64 over 64-bit words (then tail bytes).
uint32_t crc32_of(const void* data, size_t size, uint32_t crc = 0);
uint64_t fnv1a64(const void* data, size_t size, uint64_t hash = 0xcbf29ce484222325ull);

}  // namespace tinyc
