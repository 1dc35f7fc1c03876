// The memory limit (tinyc/limits.h) that guards data loading, model building and training:
// size parsing and the refusal before allocation.
#include <catch2/catch.hpp>

#include "tinyc/error.h"
#include "tinyc/limits.h"

using tinyc::ExitCode;

TEST_CASE("limits: memory sizes parse with binary suffixes", "[limits]") {
  CHECK(tinyc::parse_size("1500", "x") == 1500);
  CHECK(tinyc::parse_size("64K", "x") == 64u << 10);
  CHECK(tinyc::parse_size("512m", "x") == 512u << 20);
  CHECK(tinyc::parse_size("2G", "x") == uint64_t{2} << 30);
  CHECK(tinyc::parse_size("3GB", "x") == uint64_t{3} << 30);
  for (const char* bad : {"", "0", "G", "12Q", "1.5G", "-1", "99999999999999999999", "20000000000T"}) {
    INFO(bad);
    try {
      tinyc::parse_size(bad, "--memory-limit");
      FAIL("accepted");
    } catch (const tinyc::Error& e) {
      CHECK(e.code() == ExitCode::kUsage);
      CHECK(std::string(e.what()).find("--memory-limit") != std::string::npos);
    }
  }
}

TEST_CASE("limits: check_memory refuses above the limit with exit 4", "[limits]") {
  const uint64_t saved = tinyc::memory_limit();
  CHECK(saved > 0);
  tinyc::set_memory_limit(1 << 20);
  CHECK_NOTHROW(tinyc::check_memory(1 << 20, "fits"));
  try {
    tinyc::check_memory(3.0 * (1 << 20), "the thing");
    FAIL("not refused");
  } catch (const tinyc::Error& e) {
    CHECK(e.code() == ExitCode::kUnsupported);
    CHECK(std::string(e.what()).find("the thing needs 3 MB, more than the memory limit of 1 MB") !=
          std::string::npos);
  }
  // Sizes beyond any integer type (absurd shapes multiplied out) are refused, not wrapped.
  CHECK_THROWS_AS(tinyc::check_memory(1e30, "huge"), tinyc::Error);
  tinyc::set_memory_limit(saved);
}
