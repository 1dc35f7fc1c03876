#include "emit/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace tinyc {
namespace {

int64_t align_up(int64_t v, int64_t alignment) { return (v + alignment - 1) / alignment * alignment; }

bool overlap_in_time(const PlanBuffer& a, const PlanBuffer& b) {
  return a.first <= b.last && b.first <= a.last;
}

}  // namespace

MemoryPlan plan_memory(std::vector<PlanBuffer>* buffers, int64_t alignment) {
  std::vector<PlanBuffer>& bufs = *buffers;
  std::vector<size_t> order(bufs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (bufs[a].bytes != bufs[b].bytes) return bufs[a].bytes > bufs[b].bytes;
    return bufs[a].first < bufs[b].first;
  });
  MemoryPlan plan;
  std::vector<size_t> placed;
  for (size_t i : order) {
    PlanBuffer& buf = bufs[i];
    const int64_t size = align_up(buf.bytes, alignment);
    // Placed buffers alive at the same time, by offset: take the first gap that fits.
    std::vector<size_t> live;
    for (size_t j : placed) {
      if (overlap_in_time(buf, bufs[j])) live.push_back(j);
    }
    std::sort(live.begin(), live.end(), [&](size_t a, size_t b) {
      return bufs[a].offset != bufs[b].offset ? bufs[a].offset < bufs[b].offset : a < b;
    });
    int64_t offset = 0;
    for (size_t j : live) {
      if (bufs[j].offset >= offset + size) break;
      offset = std::max(offset, align_up(bufs[j].offset + bufs[j].bytes, alignment));
    }
    buf.offset = offset;
    placed.push_back(i);
    plan.arena_bytes = std::max(plan.arena_bytes, offset + buf.bytes);
  }
  int last_step = 0;
  for (const PlanBuffer& b : bufs) last_step = std::max(last_step, b.last);
  for (int step = 0; step <= last_step; ++step) {
    int64_t live = 0;
    for (const PlanBuffer& b : bufs) {
      if (b.first <= step && step <= b.last) live += b.bytes;
    }
    plan.lower_bound = std::max(plan.lower_bound, live);
  }
  return plan;
}

}  // namespace tinyc
