#include "emit/memory_planner.h"

#include <algorithm>
#include <numeric>

#include "emit/buffer_overlap.h"

namespace tinyc {
namespace {

int64_t align_up(int64_t v, int64_t alignment) { return (v + alignment - 1) / alignment * alignment; }
// Rounds towards minus infinity (delta may be negative).
int64_t align_down(int64_t v, int64_t alignment) {
  const int64_t q = v / alignment * alignment;
  return q > v ? q - alignment : q;
}

bool overlap_in_time(const PlanBuffer& a, const PlanBuffer& b) {
  return a.first <= b.last && b.first <= a.last;
}

// The allowed delta of output `o` over input `i`, aligned, when `o` may overlap `i`.
bool overlap_allowed(const std::vector<PlanBuffer>& bufs, size_t o, size_t i, int64_t alignment,
                     int64_t* delta) {
  if (bufs[o].overlaps != static_cast<int>(i) || bufs[i].last != bufs[o].first) return false;
  *delta = align_down(bufs[o].overlap_delta, alignment);
  return true;
}

// Places the buffers in `order`, each where it grows the arena least; returns the arena size
// and leaves the offsets (from 0) in `bufs`.
int64_t place(std::vector<PlanBuffer>& bufs, const std::vector<size_t>& order, int64_t alignment) {
  // Offsets may go below 0 while placing (an output just below its input); the layout is
  // shifted to start at 0 at the end.
  struct Interval {
    int64_t lo, hi;  // offsets x with lo < x < hi are forbidden
  };
  std::vector<size_t> placed;
  int64_t low = 0, high = 0;
  for (size_t i : order) {
    PlanBuffer& buf = bufs[i];
    std::vector<Interval> forbidden;
    std::vector<int64_t> candidates = {low};
    for (size_t j : placed) {
      if (!overlap_in_time(buf, bufs[j])) continue;
      const PlanBuffer& other = bufs[j];
      int64_t delta = 0;
      if (overlap_allowed(bufs, i, j, alignment, &delta)) {
        // buf is the output: at most delta after the input, or wholly above it.
        forbidden.push_back({other.offset + delta, other.offset + other.bytes});
        candidates.push_back(other.offset + delta);
      } else if (overlap_allowed(bufs, j, i, alignment, &delta)) {
        // buf is the input: at least delta below the output, or wholly below it.
        forbidden.push_back({other.offset - buf.bytes, other.offset - delta});
        candidates.push_back(other.offset - delta);
      } else {
        forbidden.push_back({other.offset - buf.bytes, other.offset + other.bytes});
      }
      candidates.push_back(align_up(other.offset + other.bytes, alignment));
    }
    // Each candidate moved up past the forbidden intervals it falls in, until it fits.
    auto settle = [&](int64_t x) {
      for (bool moved = true; moved;) {
        moved = false;
        for (const Interval& f : forbidden) {
          if (f.lo < x && x < f.hi) {
            x = align_up(f.hi, alignment);
            moved = true;
          }
        }
      }
      return x;
    };
    // The fit that grows the arena least; among equals, one inside the arena, then the lowest.
    int64_t best = 0, best_growth = -1;
    for (int64_t c : candidates) {
      const int64_t x = settle(c);
      const int64_t growth = std::max(high, x + buf.bytes) - std::min(low, x) - (high - low);
      const bool better = best_growth < 0 || growth < best_growth ||
                          (growth == best_growth && (x >= low) > (best >= low)) ||
                          (growth == best_growth && (x >= low) == (best >= low) && x < best);
      if (better) {
        best = x;
        best_growth = growth;
      }
    }
    buf.offset = best;
    if (placed.empty()) {
      low = best;
      high = best + buf.bytes;
    } else {
      low = std::min(low, best);
      high = std::max(high, best + buf.bytes);
    }
    placed.push_back(i);
  }
  for (PlanBuffer& b : bufs) b.offset -= low;
  return bufs.empty() ? 0 : high - low;
}

}  // namespace

MemoryPlan plan_memory(std::vector<PlanBuffer>* buffers, int64_t alignment) {
  std::vector<PlanBuffer>& bufs = *buffers;
  // Two orders: largest first (TFLite Micro's), and by first use, largest first within a
  // step. The second follows a chain of overlapping layers down the arena (each output just
  // below its input) where the first can strand a small output beside a large input placed
  // early. The smaller arena wins; ties keep the first.
  std::vector<size_t> by_size(bufs.size());
  std::iota(by_size.begin(), by_size.end(), size_t{0});
  std::vector<size_t> by_time = by_size;
  std::stable_sort(by_size.begin(), by_size.end(), [&](size_t a, size_t b) {
    if (bufs[a].bytes != bufs[b].bytes) return bufs[a].bytes > bufs[b].bytes;
    return bufs[a].first < bufs[b].first;
  });
  std::stable_sort(by_time.begin(), by_time.end(), [&](size_t a, size_t b) {
    if (bufs[a].first != bufs[b].first) return bufs[a].first < bufs[b].first;
    return bufs[a].bytes > bufs[b].bytes;
  });
  MemoryPlan plan;
  std::vector<PlanBuffer> second = bufs;
  plan.arena_bytes = place(bufs, by_size, alignment);
  const int64_t arena2 = place(second, by_time, alignment);
  if (arena2 < plan.arena_bytes) {
    bufs = second;
    plan.arena_bytes = arena2;
  }
  int last_step = 0;
  for (const PlanBuffer& b : bufs) last_step = std::max(last_step, b.last);
  for (int step = 0; step <= last_step; ++step) {
    int64_t live = 0;
    for (size_t k = 0; k < bufs.size(); ++k) {
      const PlanBuffer& b = bufs[k];
      if (b.first > step || step > b.last) continue;
      live += b.bytes;
      // An output sharing bytes with its input at the step that writes it counts only the
      // bytes it adds to the input's.
      int64_t delta = 0;
      if (b.first == step && b.overlaps >= 0 &&
          overlap_allowed(bufs, k, static_cast<size_t>(b.overlaps), alignment, &delta)) {
        const PlanBuffer& in = bufs[static_cast<size_t>(b.overlaps)];
        live -= in.bytes + b.bytes -
                overlapped_footprint(in.bytes, b.bytes, delta);
      }
    }
    plan.lower_bound = std::max(plan.lower_bound, live);
  }
  return plan;
}

}  // namespace tinyc
