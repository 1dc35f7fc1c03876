#include "train/augment.h"

#include <cstring>

namespace tinyc {

uint64_t augment_seed(uint64_t seed, int epoch, int64_t row) {
  return mix_seed(mix_seed(seed, 0x417547ull + static_cast<uint64_t>(epoch)), static_cast<uint64_t>(row));
}

void augment_sample(const AugmentConfig& config, const Shape& sample_shape, float* x,
                    float* scratch, Rng& rng) {
  if (sample_shape.size() == 3 && (config.shift > 0 || config.flip_horizontal)) {
    const int h = sample_shape[0], w = sample_shape[1], c = sample_shape[2];
    const int span = 2 * config.shift + 1;
    const int dy = config.shift > 0 ? static_cast<int>(rng.below(static_cast<uint64_t>(span))) - config.shift : 0;
    const int dx = config.shift > 0 ? static_cast<int>(rng.below(static_cast<uint64_t>(span))) - config.shift : 0;
    const bool flip = config.flip_horizontal && rng.below(2) == 1;
    const size_t bytes = sizeof(float) * static_cast<size_t>(h) * w * c;
    std::memcpy(scratch, x, bytes);
    // out(y, x) = in(y - dy, x' - dx) with x' mirrored when flipping; outside the image: 0.
    for (int y = 0; y < h; ++y) {
      const int sy = y - dy;
      for (int ox = 0; ox < w; ++ox) {
        float* out = x + (static_cast<int64_t>(y) * w + ox) * c;
        const int sx = (flip ? w - 1 - ox : ox) - dx;
        if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
          std::memset(out, 0, sizeof(float) * static_cast<size_t>(c));
        } else {
          std::memcpy(out, scratch + (static_cast<int64_t>(sy) * w + sx) * c,
                      sizeof(float) * static_cast<size_t>(c));
        }
      }
    }
  }
  if (config.noise > 0.0f) {
    const int64_t count = shape_size(sample_shape);
    for (int64_t i = 0; i < count; ++i) x[i] += config.noise * rng.normal();
  }
}

}  // namespace tinyc
