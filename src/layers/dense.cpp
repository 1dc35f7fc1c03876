// dense: y = act(x W^T + b), the TFLite FULLY_CONNECTED layout (W is (units, in)).
// Attributes: units (int), activation (none|relu|relu6, fused).
#include <algorithm>
#include <utility>

#include "layers/activation_fn.h"
#include "layers/dense_kernels.h"
#include "layers/int8_util.h"
#include "layers/layer_util.h"
#include "tinyc/quant_math.h"

namespace tinyc {
namespace {

class DenseLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 3);
    require_batched(op, in[0]);
    op_activation(op, true);
    const int64_t in_features = per_sample(in[0]);
    const Shape& w = in[1];
    if (w.size() != 2 || w[1] != in_features) {
      bad_input("layer '{}' (dense): weights {} do not match {} input features", op.name,
                shape_str(w), in_features);
    }
    if (in[2].size() != 1 || in[2][0] != w[0]) {
      bad_input("layer '{}' (dense): bias {} does not match {} units", op.name, shape_str(in[2]),
                w[0]);
    }
    if (op.get_int("units", w[0]) != w[0]) {
      bad_input("layer '{}' (dense): attribute units={} but weights have {} rows", op.name,
                op.get_int("units", 0), w[0]);
    }
    return {Shape{1, w[0]}};
  }

  int64_t macs(const Op&, const std::vector<Shape>& in, const std::vector<Shape>&) const override {
    return static_cast<int64_t>(in[1][0]) * in[1][1];
  }

  // x: (n, in)  w: (out, in)  b: (out)  y: (n, out)
  void forward(const OpBinding& b) const override {
    const int64_t out = b.in_tensors[1]->shape[0], in = b.in_tensors[1]->shape[1];
    dense_forward_product(b.in[0], b.in[1], b.n, in, out, b.out[0], out);
    Eigen::Map<const Eigen::VectorXf> bias(b.in[2], out);
    Cols y(b.out[0], out, b.n);
    y.colwise() += bias;
    act_forward(op_activation(*b.op, true), b.out[0], out * b.n);
  }

  // dz = dy * act'(y);  dw = dz^T x;  db = sum over rows of dz;  dx = dz w
  void backward(const OpBinding& b) const override {
    const int64_t out = b.in_tensors[1]->shape[0], in = b.in_tensors[1]->shape[1];
    act_backward(op_activation(*b.op, true), b.out[0], b.dout[0], out * b.n);
    ConstRowMajor w(b.in[1], out, in);
    Cols dz(b.dout[0], out, b.n);
    if (b.din[1] != nullptr) dense_weight_gradient(b.dout[0], out, b.in[0], b.n, in, out, b.din[1]);
    if (b.din[2] != nullptr) {
      Eigen::Map<Eigen::VectorXf> db(b.din[2], out);
      db.noalias() = dz.rowwise().sum();
    }
    if (b.din[0] != nullptr) {
      Cols dx(b.din[0], in, b.n);
      dx.noalias() = w.transpose() * dz;
    }
  }

  // TFLite FULLY_CONNECTED int8 (per-channel or per-tensor weights):
  //   acc = sum_i (x_i - x_zp) w_ci + b_c;  y = clamp(mbqm(acc, M_c) + y_zp, act range)
  // x: (n, in) int8  w: (out, in) int8  b: (out) int32  y: (n, out) int8
  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    const Tensor& wt = *b.in_tensors[1];
    const Tensor& bt = *b.in_tensors[2];
    const int64_t out = wt.shape[0], in = wt.shape[1];
    if (wt.dtype != DType::kInt8 || wt.quant.scale.empty() || bt.dtype != DType::kInt32) {
      bad_input("layer '{}' (dense): int8 execution needs int8 weights and int32 bias", op.name);
    }
    // TFLM's rule: per channel when there is more than one scale (a one-unit layer's single
    // scale takes the per-tensor path, whatever its axis).
    const bool per_channel = wt.quant.scale.size() > 1;
    if (per_channel && static_cast<int64_t>(wt.quant.scale.size()) != out) {
      bad_input("layer '{}' (dense): {} weight scales for {} units", op.name,
                wt.quant.scale.size(), out);
    }
    const TensorQuant xq = activation_quant(op, *b.in_tensors[0]);
    const TensorQuant yq = activation_quant(op, *b.out_tensors[0]);
    std::vector<QuantizedMultiplier> mult(static_cast<size_t>(out));
    for (int64_t c = 0; c < out; ++c) {
      const float ws = wt.quant.scale[per_channel ? static_cast<size_t>(c) : 0];
      mult[static_cast<size_t>(c)] = requant_multiplier(xq.scale, ws, yq.scale, per_channel);
    }
    const ActKind act = op_activation(op, true);
    const ActivationRange range = activation_range_int8(
        act == ActKind::kRelu ? FusedActivation::kRelu
            : act == ActKind::kRelu6 ? FusedActivation::kRelu6 : FusedActivation::kNone,
        yq.scale, yq.zero_point);
    // Integer products are exact in any order, so Eigen's GEMM gives the reference sums.
    using IntRowMajor = Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const IntRowMajor> w(wt.ints.data(), out, in);
    Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic> x(in, b.n);
    for (int64_t r = 0; r < b.n; ++r) {
      for (int64_t i = 0; i < in; ++i) {
        x(i, r) = static_cast<int32_t>(b.in[0][r * in + i]) - xq.zero_point;
      }
    }
    const Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic> acc = w * x;
    for (int64_t r = 0; r < b.n; ++r) {
      int8_t* y = b.out[0] + r * out;
      for (int64_t c = 0; c < out; ++c) {
        const int32_t sum = acc(c, r) + bt.ints[static_cast<size_t>(c)];
        int32_t v =
            multiply_by_quantized_multiplier(sum, mult[static_cast<size_t>(c)]) + yq.zero_point;
        v = std::min(std::max(v, range.min), range.max);
        y[c] = static_cast<int8_t>(v);
      }
    }
  }

  bool splits_units(const OpBinding& b, int parts) const override {
    return b.in_tensors[1]->shape[0] >= kMinUnitsPerPart * parts;
  }

  // Units [u0, u1) of all rows: y[u0:u1] = act(w[u0:u1] x + b[u0:u1])
  void forward_part(const OpBinding& b, int part, int parts) const override {
    const int64_t out = b.in_tensors[1]->shape[0], in = b.in_tensors[1]->shape[1];
    const auto [u0, u1] = share(out, part, parts);
    dense_forward_product(b.in[0], b.in[1] + u0 * in, b.n, in, u1 - u0, b.out[0] + u0, out);
    Eigen::Map<const Eigen::VectorXf> bias(b.in[2] + u0, u1 - u0);
    Cols y(b.out[0], out, b.n);
    y.middleRows(u0, u1 - u0).colwise() += bias;
    const ActKind act = op_activation(*b.op, true);
    for (int64_t r = 0; r < b.n; ++r) act_forward(act, b.out[0] + r * out + u0, u1 - u0);
  }

  // Phase 0: dz, dw and db of units [u0, u1). Phase 1: rows [i0, i1) of dx = w^T dz.
  void backward_part(const OpBinding& b, int phase, int part, int parts) const override {
    const int64_t out = b.in_tensors[1]->shape[0], in = b.in_tensors[1]->shape[1];
    Cols dz(b.dout[0], out, b.n);
    if (phase == 0) {
      const auto [u0, u1] = share(out, part, parts);
      const ActKind act = op_activation(*b.op, true);
      for (int64_t r = 0; r < b.n; ++r) {
        act_backward(act, b.out[0] + r * out + u0, b.dout[0] + r * out + u0, u1 - u0);
      }
      if (b.din[1] != nullptr) {
        dense_weight_gradient(b.dout[0] + u0, out, b.in[0], b.n, in, u1 - u0, b.din[1] + u0 * in);
      }
      if (b.din[2] != nullptr) {
        Eigen::Map<Eigen::VectorXf> db(b.din[2] + u0, u1 - u0);
        db.noalias() = dz.middleRows(u0, u1 - u0).rowwise().sum();
      }
      return;
    }
    if (b.din[0] == nullptr) return;
    const auto [i0, i1] = share(in, part, parts);
    ConstRowMajor w(b.in[1], out, in);
    Cols dx(b.din[0], in, b.n);
    dx.middleRows(i0, i1 - i0).noalias() = w.middleCols(i0, i1 - i0).transpose() * dz;
  }

 private:
  // Below this many units per thread the split products get too small to pay off.
  static constexpr int64_t kMinUnitsPerPart = 32;

  // Part `part` of `count` items, boundaries on multiples of 16 (whole SIMD registers).
  static std::pair<int64_t, int64_t> share(int64_t count, int part, int parts) {
    auto bound = [&](int p) { return std::min(count, (count * p / parts + 15) / 16 * 16); };
    return {part == 0 ? 0 : bound(part), part == parts - 1 ? count : bound(part + 1)};
  }
};

}  // namespace

const Layer& dense_layer() {
  static const DenseLayer layer;
  return layer;
}

}  // namespace tinyc
