// reshape: (1, ...) -> (1, shape...) with the same element count; row-major data is unchanged.
// Attribute shape: the per-sample target shape (no batch dimension); one entry may be -1,
// inferred from the element count, as in TFLite's RESHAPE.

#include "layers/int8_util.h"
#include "layers/layer_util.h"

namespace tinyc {
namespace {

class ReshapeLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    auto it = op.attrs.find("shape");
    if (it == op.attrs.end() || it->second.ints.empty()) {
      bad_input("layer '{}' (reshape): needs attribute shape (the per-sample target shape)", op.name);
    }
    const int64_t count = per_sample(in[0]);
    Shape out{1};
    int64_t known = 1;
    int infer_at = -1;
    for (int64_t d : it->second.ints) {
      if (d == -1 && infer_at < 0) {
        infer_at = static_cast<int>(out.size());
        out.push_back(1);
        continue;
      }
      if (d < 1 || d > (1 << 24)) {
        bad_input("layer '{}' (reshape): target dimension {} must be >= 1 (or one -1)", op.name, d);
      }
      known *= d;
      out.push_back(static_cast<int>(d));
    }
    if (infer_at >= 0) {
      if (count % known != 0) {
        bad_input("layer '{}' (reshape): cannot reshape {} ({} values) to a multiple of {}",
                  op.name, shape_str(in[0]), count, known);
      }
      out[static_cast<size_t>(infer_at)] = static_cast<int>(count / known);
      known = count;
    }
    if (known != count) {
      bad_input("layer '{}' (reshape): input {} has {} values per sample, target {} has {}",
                op.name, shape_str(in[0]), count, shape_str(out), known);
    }
    return {out};
  }

  void forward(const OpBinding& b) const override { copy_forward(b); }

  // int8: the values pass unchanged; the output shares the input's quantization.
  void forward_int8(const Int8Binding& b) const override { forward_int8_identity(b); }

  void backward(const OpBinding& b) const override { copy_backward(b); }
};

}  // namespace

const Layer& reshape_layer() {
  static const ReshapeLayer layer;
  return layer;
}

}  // namespace tinyc
