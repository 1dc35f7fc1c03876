// Static arena layout for emitted code: each buffer lives from the step that writes it to the
// last step that reads it; buffers are placed largest first where they grow the arena least
// (the lowest offset that fits, as TFLite Micro's greedy planner), without overlapping any
// already placed buffer alive at the same time -- except an op's output and the input it
// reads last (`overlaps`), which may share bytes as long as the output starts at most
// `overlap_delta` bytes after the input (see buffer_overlap.h). Deterministic: ties are
// broken by first use, then by index.
#pragma once

#include <cstdint>
#include <vector>

namespace tinyc {

struct PlanBuffer {
  int64_t bytes = 0;
  int first = 0;        // step that writes it
  int last = 0;         // last step that reads it (>= first)
  int64_t offset = -1;  // set by plan_memory
  // This buffer is written at step `first` by an op whose input is buffer `overlaps` (which
  // must end at that step); it may start at most `overlap_delta` bytes after that buffer
  // (negative: before), overlapping it. -1: no overlap allowed.
  int overlaps = -1;
  int64_t overlap_delta = 0;
};

struct MemoryPlan {
  int64_t arena_bytes = 0;  // end of the highest placed buffer
  // No plan can use less: the largest, over steps, of the bytes alive at that step, where an
  // overlapping output and input count as the least bytes they can share
  // (overlapped_footprint of their sizes and the aligned delta).
  int64_t lower_bound = 0;
};

// Places every buffer (offsets are multiples of `alignment`, a power of two).
MemoryPlan plan_memory(std::vector<PlanBuffer>* buffers, int64_t alignment);

}  // namespace tinyc
