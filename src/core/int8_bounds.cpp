#include "tinyc/int8_bounds.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "tinyc/error.h"
#include "tinyc/quant_math.h"

namespace tinyc {

void check_int8_accumulators(const Model& model) {
  // |x - zero_point| <= 255 for int8 activations; the output zero point adds up to 128 more.
  constexpr double kMaxInput = 255.0;
  constexpr double kLimit = 2147483647.0 - 256.0;
  for (const Op& op : model.ops) {
    const Tensor* w = nullptr;
    const Tensor* bias = nullptr;
    for (int t : op.inputs) {
      if (t < 0) continue;
      const Tensor& x = model.tensor(t);
      // The kernels read the stored values of a state tensor in a weight's place too (fuzzer
      // finding: weights of role state escaped this check).
      if (!x.is_constant() && x.role != TensorRole::kState) continue;
      if (x.dtype == DType::kInt8 && w == nullptr) w = &x;
      if (x.dtype == DType::kInt32 && bias == nullptr) bias = &x;
    }
    if (w == nullptr || w->shape.empty() || op.inputs.empty() || op.outputs.empty()) continue;
    int axis = w->quant.axis;
    if (axis < 0 || axis >= static_cast<int>(w->shape.size())) {
      axis = w->shape[0] == 1 ? static_cast<int>(w->shape.size()) - 1 : 0;
    }
    // Row-major: index = (outer x channels + c) x inner + i.
    const auto channels = static_cast<size_t>(w->shape[static_cast<size_t>(axis)]);
    size_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < w->shape.size(); ++d) inner *= static_cast<size_t>(w->shape[d]);
    std::vector<double> sum(channels, 0.0);
    for (size_t i = 0; i < w->ints.size(); ++i) sum[(i / inner) % channels] += std::abs(w->ints[i]);
    const Tensor& x = model.tensor(op.inputs[0]);
    const Tensor& y = model.tensor(op.outputs[0]);
    for (size_t c = 0; c < channels; ++c) {
      double acc = kMaxInput * sum[c];
      if (bias != nullptr && c < bias->ints.size()) acc += std::abs(static_cast<double>(bias->ints[c]));
      // Requantization scales the accumulator by in_scale x w_scale / out_scale.
      // Above 1 the kernels shift the accumulator left by the multiplier's exponent before the
      // fixed-point multiply (TFLite's MultiplyByQuantizedMultiplier), so that shifted value must
      // fit as well, not just acc x m (fuzzer finding: acc << shift wrapped, the zero point
      // then overflowed).
      double m = 1.0, grow = 1.0;
      if (x.quant.scale.size() == 1 && y.quant.scale.size() == 1 && !w->quant.scale.empty()) {
        const float ws = w->quant.scale[w->quant.scale.size() == 1 ? 0 : std::min(c, w->quant.scale.size() - 1)];
        m = static_cast<double>(x.quant.scale[0]) * ws / y.quant.scale[0];
        if (std::isfinite(m) && m > 0.0) {
          const QuantizedMultiplier q =
              requant_multiplier(x.quant.scale[0], ws, y.quant.scale[0], w->quant.scale.size() > 1);
          grow = std::ldexp(1.0, std::max(q.shift, 0));
        }
      }
      const double reach = acc * std::max({m, grow, 1.0});
      if (!(acc <= kLimit && reach <= kLimit)) {
        bad_input("model '{}': layer '{}' channel {}: its int8 accumulator can reach {:.3g} (weights, "
                  "bias and scales), beyond int32; the file is corrupt or not a valid int8 model",
                  model.name, op.name, c, reach);
      }
    }
  }
}

}  // namespace tinyc
