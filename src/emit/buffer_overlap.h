// How far an op's output may overlap its input in the arena (TinyEngine-style in-place
// execution of convolutions and pools), computed from the shapes at emit time.
//
// The kernel contract this relies on (every conv2d, depthwise_conv2d, max_pool2d and
// avg_pool2d generator in src/emit, float and int8, portable and DSP): the output pixels are
// produced in raster order, possibly in blocks of consecutive pixels, and every output byte of
// pixel p is written after every input read of the pixels before p. Within a pixel (or block)
// reads and writes may come in any order: channel by channel, filter by filter. x and y are
// never `__restrict`.
//
// With the output at `in_base + delta` (delta in bytes, negative: the output starts below the
// input), the writes of pixel p never touch an input byte that pixel p or a later pixel still
// reads when delta + write_end(p) <= min over q >= p of read_start(q) for every p, where
// write_end(p) = (p + 1) * out_pixel_bytes and read_start(q) is the lowest input byte that
// pixel q's window reads. max_overlap_delta is the largest such delta; any delta below it is
// safe too, as is any placement without overlap.
#pragma once

#include <cstdint>
#include <optional>

#include "layers/window.h"
#include "tinyc/model.h"

namespace tinyc {

// The largest safe delta (bytes; output start minus input start) for a window op `g` whose
// elements are `elem_bytes` wide and whose output has `out_c` channels per pixel. Stride,
// padding and kernel size come from `g`; a window entirely in the padding reads nothing.
int64_t max_overlap_delta(const Window& g, int64_t out_c, int64_t elem_bytes);

// The same for op `op` of model `m` when its kind follows the contract above (conv2d,
// depthwise_conv2d, max_pool2d, avg_pool2d on a 4-D activation), else nullopt.
std::optional<int64_t> op_overlap_delta(const Model& m, const Op& op, int64_t elem_bytes);

// The smallest number of bytes an input of `in_bytes` and an output of `out_bytes` can
// occupy together when the output may start at most `delta` bytes after the input.
int64_t overlapped_footprint(int64_t in_bytes, int64_t out_bytes, int64_t delta);

}  // namespace tinyc
