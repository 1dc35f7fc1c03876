#include "emit/buffer_overlap.h"

#include <algorithm>
#include <limits>

namespace tinyc {

int64_t max_overlap_delta(const Window& g, int64_t out_c, int64_t elem_bytes) {
  const int64_t pixel_in = int64_t{g.in_c} * elem_bytes, pixel_out = out_c * elem_bytes;
  const int64_t none = std::numeric_limits<int64_t>::max();
  // Lowest input byte read by output pixel (oy, ox): the window's first in-image row and
  // column; `none` when the window lies entirely in the padding.
  auto read_start = [&](int64_t oy, int64_t ox) {
    const int64_t iy = oy * g.stride_h - g.pad_top, ix = ox * g.stride_w - g.pad_left;
    const int64_t iy_lo = std::max<int64_t>(iy, 0), ix_lo = std::max<int64_t>(ix, 0);
    if (iy_lo >= g.in_h || ix_lo >= g.in_w || iy + g.k_h <= 0 || ix + g.k_w <= 0) return none;
    return (iy_lo * g.in_w + ix_lo) * pixel_in;
  };
  // Backwards over the pixels: `later` is the lowest byte that pixel p or any later one reads.
  int64_t later = none, delta = none;
  for (int64_t p = g.out_pixels() - 1; p >= 0; --p) {
    later = std::min(later, read_start(p / g.out_w, p % g.out_w));
    if (later != none) delta = std::min(delta, later - (p + 1) * pixel_out);
  }
  // Nothing read at all: any placement is safe; report "output may start at the input".
  return delta == none ? 0 : delta;
}

std::optional<int64_t> op_overlap_delta(const Model& m, const Op& op, int64_t elem_bytes) {
  if (op.inputs.empty() || op.outputs.size() != 1) return std::nullopt;
  const Tensor& x = m.tensor(op.inputs[0]);
  const Tensor& y = m.tensor(op.outputs[0]);
  if (x.shape.size() != 4 || y.shape.size() != 4) return std::nullopt;
  Window g;
  switch (op.type) {
    case OpType::kConv2d:
    case OpType::kDepthwiseConv2d: {
      const Tensor& w = m.tensor(op.inputs[1]);
      g = make_window(op, x.shape, {static_cast<int>(w.shape[1]), static_cast<int>(w.shape[2])},
                      op_pair(op, "stride", {1, 1}), op_same_padding(op));
      break;
    }
    case OpType::kMaxPool2d:
    case OpType::kAvgPool2d:
      g = pool_window(op, x.shape);
      break;
    default:
      return std::nullopt;
  }
  return max_overlap_delta(g, y.shape[3], elem_bytes);
}

int64_t overlapped_footprint(int64_t in_bytes, int64_t out_bytes, int64_t delta) {
  // Output at in_base + d for d <= delta: the union spans max(in, d + out) - min(0, d) bytes,
  // smallest at d = min(delta, 0); without overlap, in + out.
  const int64_t d = std::min<int64_t>(delta, 0);
  const int64_t overlapped = std::max(in_bytes, d + out_bytes) - d;
  return std::min(overlapped, in_bytes + out_bytes);
}

}  // namespace tinyc
