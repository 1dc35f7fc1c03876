// concatenation: TFLite CONCATENATION of two or more tensors along attribute axis (an index
// into the full shape, batch dimension 0 excluded; negative counts from the end), with a fused
// activation (none, relu, relu6) applied in float. int8 copies values, so every input must share
// the output's quantization (tinyc refuses to rescale rather than differ from TFLM).
#include <algorithm>
#include <cstring>

#include "layers/activation_fn.h"
#include "layers/int8_util.h"
#include "layers/layer_util.h"

namespace tinyc {
namespace {

int concat_axis(const Op& op, size_t rank) {
  int64_t axis = op.get_int("axis", -1);
  if (axis < 0) axis += static_cast<int64_t>(rank);
  if (axis < 1 || axis >= static_cast<int64_t>(rank)) {
    bad_input("layer '{}' (concatenation): axis {} is not a dimension after the batch one of a "
              "rank-{} tensor", op.name, op.get_int("axis", -1), rank);
  }
  return static_cast<int>(axis);
}

class ConcatenationLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    if (in.size() < 2) bad_input("layer '{}' (concatenation): needs 2 or more inputs", op.name);
    op_activation(op, true);
    for (const Shape& s : in) require_batched(op, s);
    const int axis = concat_axis(op, in[0].size());
    Shape out = in[0];
    for (size_t i = 1; i < in.size(); ++i) {
      bool same = in[i].size() == out.size();
      for (size_t d = 0; same && d < out.size(); ++d) {
        same = static_cast<int>(d) == axis || in[i][d] == out[d];
      }
      if (!same) {
        bad_input("layer '{}' (concatenation): input {} has shape {}, which does not match {} "
                  "outside axis {}", op.name, i, shape_str(in[i]), shape_str(in[0]), axis);
      }
      out[static_cast<size_t>(axis)] += in[i][static_cast<size_t>(axis)];
    }
    return {out};
  }

  void forward(const OpBinding& b) const override {
    std::vector<const float*> x(b.in.begin(), b.in.end());
    run<float>(b, x, b.out[0], [](const float* p, float* q, size_t c) { std::memcpy(q, p, 4 * c); });
    act_forward(op_activation(*b.op, true), b.out[0], b.n * b.out_tensors[0]->sample_size());
  }

  void backward(const OpBinding& b) const override {
    const int64_t count = b.n * b.out_tensors[0]->sample_size();
    act_backward(op_activation(*b.op, true), b.out[0], b.dout[0], count);
    // The same walk as forward, copying slices of dy back into each dx; a constant input's
    // gradient sums over the rows.
    for (size_t i = 0; i < b.in_tensors.size(); ++i) {
      if (b.din[i] != nullptr && b.in_tensors[i]->is_constant()) {
        std::fill(b.din[i], b.din[i] + b.in_tensors[i]->size(), 0.0f);
      }
    }
    walk(b, [&](size_t i, int64_t in_off, int64_t out_off, int64_t len) {
      if (b.din[i] == nullptr) return;
      for (int64_t e = 0; e < len; ++e) {
        float& d = b.din[i][in_off + e];
        d = b.in_tensors[i]->is_constant() ? d + b.dout[0][out_off + e] : b.dout[0][out_off + e];
      }
    });
  }

  void forward_int8(const Int8Binding& b) const override {
    for (const Tensor* t : b.in_tensors) require_same_quant(*b.op, *t, *b.out_tensors[0]);
    if (op_activation(*b.op, true) != ActKind::kNone) {
      unsupported("layer '{}' (concatenation): int8 with a fused activation", b.op->name);
    }
    std::vector<const int8_t*> x(b.in.begin(), b.in.end());
    run<int8_t>(b, x, b.out[0], [](const int8_t* p, int8_t* q, size_t c) { std::memcpy(q, p, c); });
  }

 private:
  // visit(input, offset in that input's buffer, offset in the output buffer, length), over
  // all rows: each input contributes a slice of inner * dim(axis) values per outer index.
  template <typename B, typename Fn>
  static void walk(const B& b, Fn visit) {
    const Shape& out = b.out_tensors[0]->shape;
    const int axis = concat_axis(*b.op, out.size());
    int64_t outer = 1, inner = 1;
    for (int d = 1; d < axis; ++d) outer *= out[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(axis) + 1; d < out.size(); ++d) inner *= out[d];
    const int64_t out_size = b.out_tensors[0]->sample_size();
    for (int64_t r = 0; r < b.n; ++r) {
      int64_t o = r * out_size;
      for (int64_t k = 0; k < outer; ++k) {
        for (size_t i = 0; i < b.in_tensors.size(); ++i) {
          const Tensor& t = *b.in_tensors[i];
          const int64_t len = inner * t.shape[static_cast<size_t>(axis)];
          const int64_t row = t.is_constant() ? 0 : r * t.sample_size();
          visit(i, row + k * len, o, len);
          o += len;
        }
      }
    }
  }

  template <typename T, typename B, typename Copy>
  static void run(const B& b, const std::vector<const T*>& x, T* y, Copy copy) {
    std::vector<std::vector<T>> constants(x.size());
    walk(b, [&](size_t i, int64_t in_off, int64_t out_off, int64_t len) {
      const T* src = x[i];
      if (src == nullptr) {  // an int8 constant: values in the tensor
        if (constants[i].empty()) {
          constants[i].assign(b.in_tensors[i]->ints.begin(), b.in_tensors[i]->ints.end());
        }
        src = constants[i].data();
      }
      copy(src + in_off, y + out_off, static_cast<size_t>(len));
    });
  }
};

}  // namespace

const Layer& concatenation_layer() {
  static const ConcatenationLayer layer;
  return layer;
}

}  // namespace tinyc
