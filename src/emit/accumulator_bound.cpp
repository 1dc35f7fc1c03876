// Worst-case int32 accumulators of int8 kernels, from the weights (see accumulator_bound.h).
#include "emit/accumulator_bound.h"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "layers/window.h"
#include "tinyc/error.h"
#include "tinyc/layer.h"

namespace tinyc {
namespace {

constexpr int64_t kInt32Max = 2147483647;

// Weights of output channel o: dense and conv2d keep channels first (out, ...), depthwise last
// (1, kh, kw, channels).
struct ChannelSums {
  int64_t abs_sum = 0;     // sum |w|
  int64_t signed_sum = 0;  // sum w
  int64_t terms = 0;
};

std::vector<ChannelSums> channel_sums(const Tensor& w, bool channels_last) {
  const int64_t channels = channels_last ? w.shape.back() : w.shape[0];
  const int64_t per = w.size() / channels;
  std::vector<ChannelSums> sums(static_cast<size_t>(channels));
  for (int64_t i = 0; i < w.size(); ++i) {
    const int64_t o = channels_last ? i % channels : i / per;
    const int64_t v = w.ints[static_cast<size_t>(i)];
    ChannelSums& s = sums[static_cast<size_t>(o)];
    s.abs_sum += std::llabs(v);
    s.signed_sum += v;
    ++s.terms;
  }
  return sums;
}

}  // namespace

int64_t channel_accumulator_bound(int64_t bias, int64_t abs_sum, int64_t signed_sum,
                                  int64_t input_zero_point) {
  const int64_t centered = std::llabs(bias) + 255 * abs_sum;
  const int64_t folded = std::llabs(bias - input_zero_point * signed_sum) + 128 * abs_sum;
  return std::max(centered, folded);
}

AccumulatorBound int8_accumulator_bound(const Model& m, const Op& op) {
  AccumulatorBound b;
  if (op.type == OpType::kAvgPool2d || op.type == OpType::kGlobalAvgPool2d) {
    const Shape& in = m.tensor(op.inputs[0]).shape;
    int64_t window = 1;
    if (op.type == OpType::kGlobalAvgPool2d) {
      window = in.size() >= 3 ? in[in.size() - 3] * in[in.size() - 2] : 1;
    } else {
      const Pair pool = op_pair(op, "pool", {1, 1});
      window = int64_t{pool[0]} * pool[1];
    }
    b.applies = true;
    b.terms = window;
    b.worst = 128 * window;
    return b;
  }
  if (op.type != OpType::kDense && op.type != OpType::kConv2d &&
      op.type != OpType::kDepthwiseConv2d) {
    return b;
  }
  const Tensor& w = m.tensor(op.inputs[1]);
  if (w.dtype != DType::kInt8 || w.ints.empty()) return b;
  const Tensor& x = m.tensor(op.inputs[0]);
  const int64_t zx = x.quant.zero_point.empty() ? 0 : x.quant.zero_point[0];
  const bool has_bias = op.inputs.size() > 2 && op.inputs[2] >= 0;
  const std::vector<ChannelSums> sums = channel_sums(w, op.type == OpType::kDepthwiseConv2d);
  b.applies = true;
  for (size_t o = 0; o < sums.size(); ++o) {
    const int64_t bias = has_bias ? m.tensor(op.inputs[2]).ints[o] : 0;
    const int64_t worst = channel_accumulator_bound(bias, sums[o].abs_sum, sums[o].signed_sum, zx);
    if (worst > b.worst || o == 0) {
      b.worst = worst;
      b.channel = static_cast<int64_t>(o);
      b.bias = bias;
      b.abs_sum = sums[o].abs_sum;
    }
    b.terms = sums[o].terms;
  }
  return b;
}

std::string check_int8_accumulator(const Model& m, const Op& op, const std::string& target) {
  const AccumulatorBound b = int8_accumulator_bound(m, op);
  if (!b.applies) return {};
  if (b.worst > kInt32Max) {
    unsupported("layer '{}' ({}) for target '{}': its int32 accumulator could overflow: channel "
                "{} reaches |acc| = {} > 2^31 - 1 for some int8 input ({} terms, bias {}, sum |w| {}); "
                "hint: the bias is out of proportion to the weights' scale, re-quantize the model",
                op.name, op_type_name(op.type), target, b.channel, b.worst, b.terms, b.bias,
                b.abs_sum);
  }
  return fmt::format("// {}: accumulator bound (checked at emit time from the weights): |acc| <= {} "
                     "< 2^31 for every int8 input (worst channel {}, {} terms), so int32 cannot "
                     "overflow.", op.name, b.worst, b.channel, b.terms);
}

}  // namespace tinyc
