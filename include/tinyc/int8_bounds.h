// Load-time guard for int8 models read from files: the int32 accumulators of the integer
// kernels (sum of (x - zero_point) x w over a channel, plus the bias, then requantization and
// the output zero point) must not overflow for any input, as they cannot in a model that
// tinyc or TFLite's converter produced. A crafted file can break that; it is refused.
#pragma once

#include "tinyc/model.h"

namespace tinyc {

// Throws Error(kBadInput) naming the layer and channel whose worst-case accumulator exceeds
// int32. For every op with an int8 weight tensor (channel axis: the quantization axis, else 0,
// or the last axis when the first has size 1, as depthwise kernels (1, kh, kw, C) have).
void check_int8_accumulators(const Model& model);

}  // namespace tinyc
