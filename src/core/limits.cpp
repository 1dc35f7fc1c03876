#include "tinyc/limits.h"

#include <atomic>
#include <cctype>
#include <cstdlib>

#include <unistd.h>

#include "tinyc/error.h"

namespace tinyc {
namespace {

std::atomic<uint64_t> g_limit{0};  // 0: not set yet

uint64_t default_limit() {
  if (const char* env = std::getenv("TINYC_MEMORY_LIMIT"); env != nullptr && *env != '\0') {
    return parse_size(env, "TINYC_MEMORY_LIMIT");
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return uint64_t{4} << 30;  // unknown RAM: 4 GiB
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2;
}

std::string mib(double bytes) { return fmt::format("{:.0f} MB", bytes / (1024.0 * 1024.0)); }

}  // namespace

uint64_t parse_size(const std::string& text, const std::string& what) {
  size_t i = 0;
  uint64_t value = 0;
  bool digits = false;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
    const auto d = static_cast<uint64_t>(text[i] - '0');
    if (value > (UINT64_MAX - d) / 10) fail(ExitCode::kUsage, "{}: '{}' is too large", what, text);
    value = value * 10 + d;
    digits = true;
    ++i;
  }
  int shift = 0;
  if (i < text.size()) {
    switch (std::toupper(static_cast<unsigned char>(text[i]))) {
      case 'K': shift = 10; ++i; break;
      case 'M': shift = 20; ++i; break;
      case 'G': shift = 30; ++i; break;
      case 'T': shift = 40; ++i; break;
      default: break;
    }
    if (i < text.size() && std::toupper(static_cast<unsigned char>(text[i])) == 'B') ++i;
  }
  if (!digits || i != text.size() || value == 0) {
    fail(ExitCode::kUsage, "{}: '{}' is not a memory size (examples: 512M, 2G, 1500000000)", what,
         text);
  }
  if (shift > 0 && value > (UINT64_MAX >> shift)) {
    fail(ExitCode::kUsage, "{}: '{}' is too large", what, text);
  }
  return value << shift;
}

uint64_t memory_limit() {
  uint64_t limit = g_limit.load(std::memory_order_relaxed);
  if (limit == 0) {
    limit = default_limit();
    g_limit.store(limit, std::memory_order_relaxed);
  }
  return limit;
}

void set_memory_limit(uint64_t bytes) { g_limit.store(bytes, std::memory_order_relaxed); }

void check_memory(double bytes, const std::string& what) {
  const auto limit = static_cast<double>(memory_limit());
  if (bytes > limit) {
    unsupported("{} needs {}, more than the memory limit of {} (raise it with --memory-limit or "
                "TINYC_MEMORY_LIMIT, e.g. 8G)",
                what, mib(bytes), mib(limit));
  }
}

}  // namespace tinyc
