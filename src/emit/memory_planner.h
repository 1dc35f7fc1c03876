// Static arena layout for emitted code: each buffer lives from the step that writes it to the
// last step that reads it; buffers are placed largest first at the lowest offset that does
// not overlap any already placed buffer alive at the same time (greedy by size, as TFLite
// Micro's planner). Deterministic: ties are broken by first use, then by index.
#pragma once

#include <cstdint>
#include <vector>

namespace tinyc {

struct PlanBuffer {
  int64_t bytes = 0;
  int first = 0;        // step that writes it
  int last = 0;         // last step that reads it (>= first)
  int64_t offset = -1;  // set by plan_memory
};

struct MemoryPlan {
  int64_t arena_bytes = 0;   // end of the highest placed buffer
  int64_t lower_bound = 0;   // largest sum of sizes of buffers alive at one step
};

// Places every buffer (offsets are multiples of `alignment`, a power of two).
MemoryPlan plan_memory(std::vector<PlanBuffer>* buffers, int64_t alignment);

}  // namespace tinyc
