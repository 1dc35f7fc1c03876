// The int16 arithmetic of TFLite's integer LSTM (8-bit activations and weights, 16-bit cell):
// the gate nonlinearities on Q3.12 inputs giving Q0.15 outputs, by interpolation in TFLite's
// published 256-entry sigmoid table, and the per-step constants TFLM derives from the tensors'
// scales. Shared by the reference kernel (src/layers/lstm.cpp) and the emitter.
#pragma once

#include <cstdint>
#include <vector>

#include "tinyc/quant_math.h"

namespace tinyc {

// sigmoid(k / 24) in 0.16 fixed point, k = 0..255: the values of TFLite's table (facts that a
// bit-exact kernel must use; they are not a rounding of one closed formula).
extern const uint16_t kSigmoidTableU16[256];

// TFLite reference_integer_ops::Logistic for int16 with the power-of-two input (multiplier 0,
// shift 0): Q3.12 in, Q0.15 out.
int16_t sigmoid_q12_int16(int16_t x);
// TFLite reference_integer_ops::Tanh for int16: (x * multiplier + round) >> shift feeds the
// table; `scale_power` is log2 of the input's scale (-12 for gates, the cell state's power
// for tanh(c)).
int16_t tanh_int16(int16_t x, int scale_power);

// The constants of one integer LSTM op, from its tensors' scales.
struct LstmInt8Params {
  QuantizedMultiplier input_fc[4];      // gates i, f, c, o: in * w_x / 2^-12
  QuantizedMultiplier recurrent_fc[4];  // h * w_h / 2^-12
  QuantizedMultiplier forget_cell;      // 2^-15 * s_c / s_c
  QuantizedMultiplier input_cell;       // 2^-15 * 2^-15 / s_c
  QuantizedMultiplier hidden;           // 2^-15 * 2^-15 / s_h
  int32_t input_zero_point = 0;
  int32_t hidden_zero_point = 0;
  int cell_scale_power = 0;             // log2(s_c), rounded as TFLM's CheckedLog2
  int16_t cell_clip = 0;                // quantized clip; 0: none
};

}  // namespace tinyc

namespace tinyc {
struct Op;
struct Tensor;
// TFLM's preparation of an int8 LSTM from its 15 tinyc inputs (src/layers/lstm.cpp); throws
// Error(kBadInput/kUnsupported) naming the op for tensors it cannot run.
LstmInt8Params lstm_int8_params(const Op& op, const std::vector<const Tensor*>& in);
}  // namespace tinyc
