// Emit-time proof that int8 kernels cannot overflow their int32 accumulators (issue 7): the
// worst case over every possible int8 input is computed from the layer's actual weights, bias
// and input zero point, per output channel, before any code is written.
#pragma once

#include <cstdint>
#include <string>

#include "tinyc/model.h"

namespace tinyc {

struct AccumulatorBound {
  bool applies = false;   // the op accumulates (dense, conv2d, depthwise_conv2d, avg pools)
  int64_t worst = 0;      // max over channels and inputs of |any partial sum|
  int64_t channel = 0;    // the channel that reaches it
  int64_t terms = 0;      // products (or values) summed per output value
  int64_t bias = 0;       // that channel's int32 bias
  int64_t abs_sum = 0;    // and its sum |w|
};

// The bound covers both ways a kernel may accumulate output channel o,
//   bias[o] + sum_i (x_i - zx) * w[o][i]            with x_i - zx in [-255, 255], and
//   (bias[o] - zx * sum_i w[o][i]) + sum_i x_i * w[o][i]   with x_i in [-128, 127],
// in any order of the terms (SIMD kernels pair them): every partial sum is at most
//   max(|bias| + 255 * S, |bias - zx * S_signed| + 128 * S),  S = sum_i |w[o][i]|.
// Average pools sum up to `terms` int8 values: 128 * terms.
AccumulatorBound int8_accumulator_bound(const Model& m, const Op& op);

// That bound for one output channel: its bias, sum_i |w[o][i]| and sum_i w[o][i], and the
// input zero point.
int64_t channel_accumulator_bound(int64_t bias, int64_t abs_sum, int64_t signed_sum,
                                  int64_t input_zero_point);

// Throws Error(kUnsupported) naming the layer, the channel and the numbers when the bound
// exceeds INT32_MAX; otherwise returns the one-line comment that documents it.
std::string check_int8_accumulator(const Model& m, const Op& op, const std::string& target);

}  // namespace tinyc
