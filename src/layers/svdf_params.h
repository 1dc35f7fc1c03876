// The constants TFLM prepares for an int8 SVDF, shared by the reference kernel
// (src/layers/svdf.cpp) and the emitter.
#pragma once

#include <cstdint>
#include <vector>

#include "tinyc/model.h"
#include "tinyc/quant_math.h"

namespace tinyc {

struct SvdfInt8Params {
  QuantizedMultiplier feature;  // in * w_feature / state: the newest state values
  QuantizedMultiplier output;   // state * w_time / out
  int32_t input_zero_point = 0, state_zero_point = 0, output_zero_point = 0;
  bool wide_state = true;       // int16 state and time weights; false: int8
};

// From the op's tensors (x, weights_feature, weights_time, bias, state) and its output;
// Error(kUnsupported) naming the op for types TFLM does not run.
SvdfInt8Params svdf_int8_params(const Op& op, const std::vector<const Tensor*>& in,
                                const Tensor& out);

}  // namespace tinyc
