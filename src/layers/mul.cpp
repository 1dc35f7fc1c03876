// mul: y = a * b element-wise, with broadcasting and a fused activation (TFLite MUL). Either
// input may be a constant. int8: TFLM's reference arithmetic (layers/elementwise.h).
#include "layers/elementwise.h"

namespace tinyc {
namespace {

class MulLayer : public BinaryLayer {
 public:
  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    const TensorQuant yq = activation_quant(op, *b.out_tensors[0]);
    const MulParams p = mul_params(operand_quant(op, *b.in_tensors[0]),
                                   operand_quant(op, *b.in_tensors[1]), yq,
                                   fused_range_int8(op, yq));
    forward_int8_binary(b, [&p](int32_t x, int32_t z) { return mul_int8(x, z, p); });
  }

 protected:
  float apply(float a, float b) const override { return a * b; }
  float grad(float /*self*/, float other) const override { return other; }
};

}  // namespace

const Layer& mul_layer() {
  static const MulLayer layer;
  return layer;
}

}  // namespace tinyc
