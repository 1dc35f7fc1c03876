// The arena planner: no two buffers alive at the same step overlap, offsets are aligned,
// the arena reaches the lower bound on chains, and the result is deterministic.
#include <catch2/catch.hpp>

#include "emit/memory_planner.h"

using tinyc::PlanBuffer;
using tinyc::plan_memory;

namespace {

void check_no_overlap(const std::vector<PlanBuffer>& bufs, int64_t alignment) {
  for (size_t i = 0; i < bufs.size(); ++i) {
    CHECK(bufs[i].offset >= 0);
    CHECK(bufs[i].offset % alignment == 0);
    for (size_t j = i + 1; j < bufs.size(); ++j) {
      const PlanBuffer& a = bufs[i];
      const PlanBuffer& b = bufs[j];
      const bool same_time = a.first <= b.last && b.first <= a.last;
      const bool same_space = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      INFO("buffers " << i << " and " << j);
      CHECK(!(same_time && same_space));
    }
  }
}

}  // namespace

TEST_CASE("planner: a chain of layers ping-pongs between two regions", "[emit][planner]") {
  // input(256) -> 128 -> 40: each buffer lives from its producer to its consumer.
  std::vector<PlanBuffer> bufs = {{256, 0, 1, -1}, {128, 1, 2, -1}, {40, 2, 3, -1}};
  const auto plan = plan_memory(&bufs, 16);
  check_no_overlap(bufs, 16);
  CHECK(plan.lower_bound == 384);
  CHECK(plan.arena_bytes == 384);
  CHECK(bufs[2].offset == 0);  // reuses the input's space once it is dead
}

TEST_CASE("planner: buffers alive together never share bytes", "[emit][planner]") {
  // A branchy schedule: a long-lived buffer spans the others.
  std::vector<PlanBuffer> bufs = {{100, 0, 5, -1}, {64, 1, 2, -1}, {64, 2, 3, -1},
                                  {200, 3, 4, -1}, {8, 4, 5, -1},  {32, 1, 5, -1}};
  const auto plan = plan_memory(&bufs, 16);
  check_no_overlap(bufs, 16);
  CHECK(plan.arena_bytes >= plan.lower_bound);
  int64_t end = 0;
  for (const PlanBuffer& b : bufs) end = std::max(end, b.offset + b.bytes);
  CHECK(plan.arena_bytes == end);
  // Same input, same layout.
  std::vector<PlanBuffer> again = bufs;
  for (PlanBuffer& b : again) b.offset = -1;
  plan_memory(&again, 16);
  for (size_t i = 0; i < bufs.size(); ++i) CHECK(again[i].offset == bufs[i].offset);
}

TEST_CASE("planner: no buffers, no arena", "[emit][planner]") {
  std::vector<PlanBuffer> bufs;
  const auto plan = plan_memory(&bufs, 16);
  CHECK(plan.arena_bytes == 0);
  CHECK(plan.lower_bound == 0);
}
