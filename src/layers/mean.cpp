// mean: TFLite MEAN over attribute axes (indices into the full shape, batch 0 excluded), keeping
// the reduced dimensions as 1 when keep_dims is 1. float: any axes. int8: TFLite's
// reference_integer_ops::Mean, the case TFLM runs for a 4-D input reduced over axes 1 and 2
// with keep_dims (global average pooling): sum of (x - zp_in), rescaled by in_scale /
// out_scale, divided by H * W rounding half away from zero, plus zp_out. Other int8 cases are
// refused (TFLM runs them through different arithmetic).
#include <algorithm>
#include <set>

#include "layers/int8_util.h"
#include "layers/layer_util.h"

namespace tinyc {
namespace {

std::set<int> mean_axes(const Op& op, size_t rank) {
  auto it = op.attrs.find("axes");
  if (it == op.attrs.end() || it->second.ints.empty()) {
    bad_input("layer '{}' (mean): needs attribute axes", op.name);
  }
  std::set<int> axes;
  for (int64_t a : it->second.ints) {
    const int64_t k = a < 0 ? a + static_cast<int64_t>(rank) : a;
    if (k < 1 || k >= static_cast<int64_t>(rank)) {
      bad_input("layer '{}' (mean): axis {} is not a dimension after the batch one of a rank-{} "
                "input", op.name, a, rank);
    }
    axes.insert(static_cast<int>(k));
  }
  return axes;
}

// For each input element of one sample, its output element; `count`: inputs per output.
std::vector<int32_t> reduce_map(const Shape& in, const std::set<int>& axes, int64_t* count) {
  const size_t rank = in.size();
  std::vector<int64_t> out_stride(rank, 0);
  int64_t stride = 1;
  *count = 1;
  for (size_t d = rank; d-- > 1;) {
    if (axes.count(static_cast<int>(d))) {
      *count *= in[d];
      continue;
    }
    out_stride[d] = stride;
    stride *= in[d];
  }
  std::vector<int32_t> map(static_cast<size_t>(shape_size(in)));
  std::vector<int> pos(rank, 0);
  for (size_t e = 0; e < map.size(); ++e) {
    int64_t o = 0;
    for (size_t d = 1; d < rank; ++d) o += pos[d] * out_stride[d];
    map[e] = static_cast<int32_t>(o);
    for (size_t d = rank; d-- > 1;) {
      if (++pos[d] < in[d]) break;
      pos[d] = 0;
    }
  }
  return map;
}

class MeanLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    const std::set<int> axes = mean_axes(op, in[0].size());
    const bool keep = op.get_int("keep_dims", 0) != 0;
    Shape out{1};
    for (size_t d = 1; d < in[0].size(); ++d) {
      if (!axes.count(static_cast<int>(d))) {
        out.push_back(in[0][d]);
      } else if (keep) {
        out.push_back(1);
      }
    }
    return {out};
  }

  void forward(const OpBinding& b) const override {
    const Shape& in = b.in_tensors[0]->shape;
    int64_t count = 1;
    const std::vector<int32_t> map = reduce_map(in, mean_axes(*b.op, in.size()), &count);
    const int64_t in_size = b.in_tensors[0]->sample_size(), out_size = b.out_tensors[0]->sample_size();
    std::fill(b.out[0], b.out[0] + b.n * out_size, 0.0f);
    for (int64_t r = 0; r < b.n; ++r) {
      const float* x = b.in[0] + r * in_size;
      float* y = b.out[0] + r * out_size;
      for (int64_t e = 0; e < in_size; ++e) y[map[static_cast<size_t>(e)]] += x[e];
      for (int64_t o = 0; o < out_size; ++o) y[o] /= static_cast<float>(count);
    }
  }

  void backward(const OpBinding& b) const override {
    if (b.din[0] == nullptr) return;
    const Shape& in = b.in_tensors[0]->shape;
    int64_t count = 1;
    const std::vector<int32_t> map = reduce_map(in, mean_axes(*b.op, in.size()), &count);
    const int64_t in_size = b.in_tensors[0]->sample_size(), out_size = b.out_tensors[0]->sample_size();
    for (int64_t r = 0; r < b.n; ++r) {
      for (int64_t e = 0; e < in_size; ++e) {
        b.din[0][r * in_size + e] =
            b.dout[0][r * out_size + map[static_cast<size_t>(e)]] / static_cast<float>(count);
      }
    }
  }

  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    const Shape& in = b.in_tensors[0]->shape;
    const std::set<int> axes = mean_axes(op, in.size());
    if (in.size() != 4 || axes != std::set<int>{1, 2} || op.get_int("keep_dims", 0) == 0) {
      unsupported("layer '{}' (mean): int8 runs the mean over axes 1 and 2 of a 4-D input with "
                  "keep_dims (global average pooling) only", op.name);
    }
    const TensorQuant xq = activation_quant(op, *b.in_tensors[0]);
    const TensorQuant yq = activation_quant(op, *b.out_tensors[0]);
    const QuantizedMultiplier m = quantize_multiplier(static_cast<double>(xq.scale) /
                                                      static_cast<double>(yq.scale));
    const int64_t hw = static_cast<int64_t>(in[1]) * in[2], c = in[3];
    const auto count = static_cast<int32_t>(hw);
    for (int64_t r = 0; r < b.n; ++r) {
      const int8_t* x = b.in[0] + r * hw * c;
      int8_t* y = b.out[0] + r * c;
      for (int64_t k = 0; k < c; ++k) {
        int32_t acc = 0;
        for (int64_t p = 0; p < hw; ++p) acc += x[p * c + k] - xq.zero_point;
        acc = multiply_by_quantized_multiplier(acc, m);
        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        acc += yq.zero_point;
        y[k] = static_cast<int8_t>(std::min(std::max(acc, -128), 127));
      }
    }
  }
};

}  // namespace

const Layer& mean_layer() {
  static const MeanLayer layer;
  return layer;
}

}  // namespace tinyc
