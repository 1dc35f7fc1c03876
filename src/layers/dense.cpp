// dense: y = act(x W^T + b), the TFLite FULLY_CONNECTED layout (W is (units, in)).
// Attributes: units (int), activation (none|relu|relu6, fused).
#include "layers/activation_fn.h"
#include "layers/layer_util.h"

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
    ConstCols x(b.in[0], in, b.n);
    ConstRowMajor w(b.in[1], out, in);
    Eigen::Map<const Eigen::VectorXf> bias(b.in[2], out);
    Cols y(b.out[0], out, b.n);
    y.noalias() = w * x;
    y.colwise() += bias;
    act_forward(op_activation(*b.op, true), b.out[0], out * b.n);
  }

  // dz = dy * act'(y);  dw = dz^T x;  db = sum over rows of dz;  dx = dz w
  void backward(const OpBinding& b) const override {
    const int64_t out = b.in_tensors[1]->shape[0], in = b.in_tensors[1]->shape[1];
    act_backward(op_activation(*b.op, true), b.out[0], b.dout[0], out * b.n);
    ConstCols x(b.in[0], in, b.n);
    ConstRowMajor w(b.in[1], out, in);
    Cols dz(b.dout[0], out, b.n);
    if (b.din[1] != nullptr) {
      RowMajor dw(b.din[1], out, in);
      dw.noalias() = dz * x.transpose();
    }
    if (b.din[2] != nullptr) {
      Eigen::Map<Eigen::VectorXf> db(b.din[2], out);
      db.noalias() = dz.rowwise().sum();
    }
    if (b.din[0] != nullptr) {
      Cols dx(b.din[0], in, b.n);
      dx.noalias() = w.transpose() * dz;
    }
  }
};

}  // namespace

const Layer& dense_layer() {
  static const DenseLayer layer;
  return layer;
}

}  // namespace tinyc
