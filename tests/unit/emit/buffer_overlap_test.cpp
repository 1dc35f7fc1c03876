// Overlapping an op's output with its input (buffer_overlap.h): hand-computed deltas, a
// byte-level simulation of the kernels' read/write order that shows the computed delta is
// safe and one byte more is not, and the planner honouring it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "emit/buffer_overlap.h"
#include "emit/memory_planner.h"

using tinyc::PlanBuffer;
using tinyc::Window;

namespace {

// TFLite's output size and padding rule, written out again for the test.
Window window(int in_h, int in_w, int in_c, int k, int stride, bool same) {
  Window g;
  g.in_h = in_h;
  g.in_w = in_w;
  g.in_c = in_c;
  g.k_h = g.k_w = k;
  g.stride_h = g.stride_w = stride;
  if (same) {
    g.out_h = (in_h + stride - 1) / stride;
    g.out_w = (in_w + stride - 1) / stride;
    g.pad_top = std::max((g.out_h - 1) * stride + k - in_h, 0) / 2;
    g.pad_left = std::max((g.out_w - 1) * stride + k - in_w, 0) / 2;
  } else {
    g.out_h = (in_h - k) / stride + 1;
    g.out_w = (in_w - k) / stride + 1;
  }
  return g;
}

// Runs the most hostile order the kernel contract allows -- each output pixel written in full
// before any of its own reads, after every read of the pixels before it -- with the output at
// input + delta, and tells whether some read met an input byte already overwritten.
bool read_after_overwrite(const Window& g, int64_t out_c, int64_t elem, int64_t delta) {
  const int64_t in_bytes = g.in_size() * elem, out_bytes = g.out_pixels() * out_c * elem;
  const int64_t base = out_bytes + 64;  // room for an output below the input
  std::vector<char> clobbered(static_cast<size_t>(base + in_bytes + out_bytes + 64), 0);
  for (int64_t p = 0; p < g.out_pixels(); ++p) {
    for (int64_t b = 0; b < out_c * elem; ++b) {
      clobbered[static_cast<size_t>(base + delta + p * out_c * elem + b)] = 1;
    }
    const int64_t oy = p / g.out_w, ox = p % g.out_w;
    for (int ky = 0; ky < g.k_h; ++ky) {
      for (int kx = 0; kx < g.k_w; ++kx) {
        const int64_t iy = oy * g.stride_h - g.pad_top + ky, ix = ox * g.stride_w - g.pad_left + kx;
        if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;
        for (int64_t b = 0; b < g.in_c * elem; ++b) {
          if (clobbered[static_cast<size_t>(base + (iy * g.in_w + ix) * g.in_c * elem + b)]) return true;
        }
      }
    }
  }
  return false;
}

}  // namespace

TEST_CASE("overlap: hand-computed deltas", "[emit][overlap]") {
  // person_detect's 1x1 conv2d, 48x48x8 -> 48x48x16 int8: pixel p writes up to 16 (p + 1)
  // and the last pixel reads from 8 p, so delta = 8 * 2303 - 16 * 2304 = -18440: the output
  // starts (16 - 8) * 2304 + 8 bytes below the input; together 36,872 bytes, not 55,296.
  CHECK(tinyc::max_overlap_delta(window(48, 48, 8, 1, 1, true), 16, 1) == -18440);
  CHECK(tinyc::overlapped_footprint(18432, 36864, -18440) == 36872);
  // Shrinking 16 -> 8 channels: only the first pixel's own input is in the way (-8).
  CHECK(tinyc::max_overlap_delta(window(4, 4, 16, 1, 1, true), 8, 1) == -8);
  CHECK(tinyc::overlapped_footprint(256, 128, -8) == 264);
  // 3x3 depthwise, stride 1, same: an inner pixel (oy, ox) reads from row oy - 1, column
  // ox - 1, so the output sits one row and two pixels below: -(48 + 2) * 8.
  CHECK(tinyc::max_overlap_delta(window(48, 48, 8, 3, 1, true), 8, 1) == -400);
  // Float: the same in 4-byte elements.
  CHECK(tinyc::max_overlap_delta(window(48, 48, 8, 3, 1, true), 8, 4) == -1600);
  // 3x3 depthwise, stride 2, same on 48x48x16 (padding after): the reads run ahead of the
  // writes from the second pixel on; only the first pixel's own 16 bytes are in the way.
  CHECK(tinyc::max_overlap_delta(window(48, 48, 16, 3, 2, true), 16, 1) == -16);
  // 3x3 conv, valid, 5x5x1 -> 3x3x2: pixel (oy, ox) reads from 5 oy + ox and writes up to
  // 2 (3 oy + ox + 1); worst at (2, 2): 12 - 18 = -6.
  CHECK(tinyc::max_overlap_delta(window(5, 5, 1, 3, 1, false), 2, 1) == -6);
  // 2x2 max pool, stride 2, valid: one pixel below the input, as a pixel's writes may come
  // before its own reads. (Such pools run in place anyway: their kernel goes channel by
  // channel, OpStorage::kInPlace.)
  CHECK(tinyc::max_overlap_delta(window(8, 8, 4, 2, 2, false), 4, 1) == -4);
  // No overlap beats a bad one: the footprint never exceeds the sum.
  CHECK(tinyc::overlapped_footprint(100, 50, -1000) == 150);
}

TEST_CASE("overlap: the delta is safe and one byte more is not (simulated kernels)",
          "[emit][overlap]") {
  int cases = 0;
  for (int in_c : {1, 3, 8}) {
    for (int64_t out_mult : {0, 1, 2}) {  // 0: depthwise/pool (same channels), else growth
      for (int k : {1, 3, 5}) {
        for (int stride : {1, 2}) {
          for (bool same : {true, false}) {
            for (int64_t elem : {1, 4}) {
              const Window g = window(7, 6, in_c, k, stride, same);
              const int64_t out_c = out_mult == 0 ? in_c : in_c * out_mult + 1;
              const int64_t delta = tinyc::max_overlap_delta(g, out_c, elem);
              INFO("in_c " << in_c << " out_c " << out_c << " k " << k << " stride " << stride
                           << " same " << same << " elem " << elem << " delta " << delta);
              CHECK(!read_after_overwrite(g, out_c, elem, delta));
              CHECK(!read_after_overwrite(g, out_c, elem, delta - 4));
              CHECK(read_after_overwrite(g, out_c, elem, delta + 1));
              ++cases;
            }
          }
        }
      }
    }
  }
  CHECK(cases == 216);
}

TEST_CASE("planner: an output overlaps its input by at most the delta", "[emit][planner]") {
  // in (18432, steps 0-1) -> 1x1 conv -> out (36864, steps 1-2): out may start 18440 below in.
  std::vector<PlanBuffer> bufs(2);
  bufs[0] = PlanBuffer{18432, 0, 1, -1};
  bufs[1] = PlanBuffer{36864, 1, 2, -1};
  bufs[1].overlaps = 0;
  bufs[1].overlap_delta = -18440;
  auto plan = tinyc::plan_memory(&bufs, 4);
  CHECK(bufs[1].offset - bufs[0].offset <= -18440);
  CHECK(plan.arena_bytes == 36872);
  CHECK(plan.lower_bound == 36872);
  // An unaligned delta rounds down (further apart).
  for (PlanBuffer& b : bufs) b.offset = -1;
  bufs[1].overlap_delta = -18438;
  plan = tinyc::plan_memory(&bufs, 4);
  CHECK(bufs[1].offset - bufs[0].offset == -18440);
  CHECK(plan.arena_bytes == 36872);
  // The input read again later: no overlap.
  for (PlanBuffer& b : bufs) b.offset = -1;
  bufs[0].last = 2;
  plan = tinyc::plan_memory(&bufs, 4);
  CHECK(plan.arena_bytes == 18432 + 36864);
  CHECK(plan.lower_bound == 18432 + 36864);
}

TEST_CASE("planner: a chain of overlapping layers stays within its lower bound",
          "[emit][planner]") {
  // person_detect's first layers: conv -> depthwise (same size) -> 1x1 conv (twice the
  // channels) -> stride-2 depthwise (a quarter) -> 1x1 conv (twice).
  std::vector<PlanBuffer> bufs = {{18432, 1, 2}, {18432, 2, 3}, {36864, 3, 4},
                                  {9216, 4, 5},  {18432, 5, 6}};
  const int64_t deltas[] = {0, -400, -18440, -16, -9232};
  for (size_t i = 1; i < bufs.size(); ++i) {
    bufs[i].overlaps = static_cast<int>(i) - 1;
    bufs[i].overlap_delta = deltas[i];
  }
  const auto plan = tinyc::plan_memory(&bufs, 4);
  INFO("arena " << plan.arena_bytes << " lower bound " << plan.lower_bound);
  CHECK(plan.lower_bound == 36880);
  CHECK(plan.arena_bytes >= plan.lower_bound);
  CHECK(plan.arena_bytes < 18432 + 36864);
  for (size_t i = 0; i < bufs.size(); ++i) {
    CHECK(bufs[i].offset >= 0);
    CHECK(bufs[i].offset + bufs[i].bytes <= plan.arena_bytes);
    for (size_t j = i + 1; j < bufs.size(); ++j) {
      const bool same_time = bufs[i].first <= bufs[j].last && bufs[j].first <= bufs[i].last;
      const bool same_space = bufs[i].offset < bufs[j].offset + bufs[j].bytes &&
                              bufs[j].offset < bufs[i].offset + bufs[i].bytes;
      if (!same_time || !same_space) continue;
      INFO("buffers " << i << " and " << j);
      REQUIRE(j == i + 1);  // only an output with its own input
      CHECK(bufs[j].offset - bufs[i].offset <= deltas[j]);
    }
  }
}

TEST_CASE("planner: random schedules with overlaps keep every constraint", "[emit][planner]") {
  uint32_t state = 12345;
  auto next = [&](uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  for (int round = 0; round < 300; ++round) {
    // A chain of ops, some with a side buffer alive over several steps.
    std::vector<PlanBuffer> bufs;
    const int steps = 2 + static_cast<int>(next(8));
    int previous = -1;  // the chain's buffer written at the step before
    for (int s = 0; s < steps; ++s) {
      PlanBuffer b{4 + static_cast<int64_t>(next(200)), s, s + 1};
      if (previous >= 0 && next(3) != 0) {
        b.overlaps = previous;
        // Any delta between "wholly below the input" and "at the input".
        b.overlap_delta = -b.bytes + static_cast<int64_t>(next(static_cast<uint32_t>(b.bytes + 1)));
      }
      previous = static_cast<int>(bufs.size());
      bufs.push_back(b);
      if (next(4) == 0) {
        bufs.push_back(PlanBuffer{1 + static_cast<int64_t>(next(64)), s, s + static_cast<int>(next(3))});
      }
    }
    const auto plan = tinyc::plan_memory(&bufs, 4);
    INFO("round " << round);
    REQUIRE(plan.arena_bytes >= plan.lower_bound);
    for (size_t i = 0; i < bufs.size(); ++i) {
      REQUIRE(bufs[i].offset >= 0);
      REQUIRE(bufs[i].offset % 4 == 0);
      REQUIRE(bufs[i].offset + bufs[i].bytes <= plan.arena_bytes);
      for (size_t j = 0; j < bufs.size(); ++j) {
        if (i == j) continue;
        const bool same_time = bufs[i].first <= bufs[j].last && bufs[j].first <= bufs[i].last;
        const bool same_space = bufs[i].offset < bufs[j].offset + bufs[j].bytes &&
                                bufs[j].offset < bufs[i].offset + bufs[i].bytes;
        if (!same_time || !same_space) continue;
        // Only an output (j) over the input (i) it may overlap, within the delta.
        const bool pair = bufs[j].overlaps == static_cast<int>(i) && bufs[i].last == bufs[j].first;
        const bool reverse = bufs[i].overlaps == static_cast<int>(j) && bufs[j].last == bufs[i].first;
        INFO("buffers " << i << " and " << j);
        REQUIRE((pair || reverse));
        if (pair) REQUIRE(bufs[j].offset - bufs[i].offset <= bufs[j].overlap_delta);
      }
    }
  }
}
